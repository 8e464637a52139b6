// The page's copy of every event it can see, kept through GET /sync. The first
// load lists everything once; every later load and every reconnect asks only
// for what changed since the cursor. Copy and cursor live in sessionStorage
// together (one is useless without the other), per tab like the login.

const STORAGE_PREFIX = "tandem.sync.";
const PAGE_SIZE = 500;

export class SyncFeed {
  constructor(api) {
    this.api = api;
    this.key = STORAGE_PREFIX + api.user.id;
    const saved = JSON.parse(sessionStorage.getItem(this.key) || "null");
    this.cursor = saved?.cursor ?? null;
    this.events = new Map((saved?.events ?? []).map((event) => [event.id, event]));
    this._running = null;
  }

  /**
   * Read pages until has_more is false; resolves with what changed:
   * {changed: [event...], removed: [{event_id, reason}...]}. Calls made while one
   * runs share it.
   */
  catchUp() {
    this._running ??= this._catchUp().finally(() => {
      this._running = null;
    });
    return this._running;
  }

  async _catchUp() {
    const changed = new Map();
    const removed = new Map();
    let more = true;
    while (more) {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (this.cursor) query.set("cursor", this.cursor);
      let page;
      try {
        page = await this.api.request("GET", `/sync?${query}`);
      } catch (error) {
        if (error.code !== "cursor_expired") throw error;
        // Away longer than the server remembers: list everything again.
        for (const eventId of this.events.keys()) removed.set(eventId, { event_id: eventId });
        this.cursor = null;
        this.events.clear();
        changed.clear();
        continue;
      }
      for (const item of page.items) {
        if (item.type === "event") {
          this.events.set(item.event.id, item.event);
          changed.set(item.event.id, item.event);
          removed.delete(item.event.id);
        } else {
          this.events.delete(item.event_id);
          changed.delete(item.event_id);
          removed.set(item.event_id, item);
        }
      }
      this.cursor = page.next_cursor;
      more = page.has_more;
    }
    this._save();
    return { changed: [...changed.values()], removed: [...removed.values()] };
  }

  _save() {
    const saved = JSON.stringify({ cursor: this.cursor, events: [...this.events.values()] });
    try {
      sessionStorage.setItem(this.key, saved);
    } catch {
      // Over the storage quota: the next load lists everything again.
      sessionStorage.removeItem(this.key);
    }
  }
}
