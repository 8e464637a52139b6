// What the page knows: every event it can see at its latest version (caught up
// through /sync, then kept live by the rooms), the week's occurrences, who is in
// each event's room, and the edits on their way to the server.
//
// Events (CustomEvent detail in brackets):
//   week     {}                                  occurrences reloaded
//   event    {eventId, fields, authorId, own}    an event changed (fields: touched names)
//   members  {eventId}
//   access   {eventId, role, previous}
//   removed  {eventId, reason, title}
//   refused  {eventId, changes, error}           an edit the server did not take

import { applyPatch, touchedFields } from "./jsonpatch.js";
import { toWire } from "./ui.js";

// Changes to these move occurrences, which only the server expands.
const LAYOUT_FIELDS = new Set([
  "start_time",
  "end_time",
  "recurrence",
  "timezone",
  "all_day",
  "overrides",
]);
const WEEK_RELOAD_DELAY_MS = 80;

/** Whether a refused split was refused because its occurrence is the series' first
 *  (storage/split.py): the one refusal after which deleting the whole event is right. */
function isFirstOccurrence(error) {
  const reason = error.details?.fields?.occurrence_id;
  return error.code === "validation_error" && String(reason).startsWith("is the first occurrence");
}

export class EventStore extends EventTarget {
  constructor(api, live, feed) {
    super();
    this.api = api;
    this.live = live;
    this.feed = feed;
    this.events = new Map(); // id -> event resource at its latest known version
    this.members = new Map(); // id -> Map(session -> member)
    this.occurrences = [];
    this.window = null;
    // The server alone expands recurrence rules: the shown week's occurrences of
    // recurring events, fetched again only when the week or such an event changes.
    this._expanded = null;
    this.openId = null; // the event in the side panel stays joined whatever the week
    this._outboxes = new Map();
    this._reloadTimer = null;
    live.addEventListener("snapshot", (e) => this._onSnapshot(e.detail));
    live.addEventListener("version", (e) => this._onVersion(e.detail));
    live.addEventListener("members", (e) => this._onMembers(e.detail));
    live.addEventListener("presence", (e) => this._onPresence(e.detail));
    live.addEventListener("access", (e) => this._onAccess(e.detail));
    live.addEventListener("removed", (e) => this._onRemoved(e.detail));
    // After a reconnect, what happened meanwhile (new shares, new events, deletions)
    // comes from /sync: only the changes, not the whole week again.
    let connectedBefore = false;
    live.addEventListener("status", (e) => {
      if (e.detail.state !== "live") return;
      if (connectedBefore) this.refresh().catch(console.error);
      connectedBefore = true;
    });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Show [start, end): every occurrence in it, with their events' rooms joined. */
  async showWindow(start, end) {
    this.window = { start, end };
    this._expanded = null;
    await this.refresh();
  }

  /** Catch up through /sync, then lay out the week again. */
  async refresh() {
    const { removed } = await this.feed.catchUp();
    for (const { event_id: eventId, reason } of removed) {
      if (!this.events.has(eventId)) continue;
      if (this.events.get(eventId).recurrence.length) this._expanded = null;
      this._onRemoved({ eventId, reason: reason ?? "revoked" });
    }
    // The feed's copy is the truth as of its cursor; what the rooms brought since
    // is newer and stays.
    for (const event of this.feed.events.values()) {
      const known = this.events.get(event.id);
      if (known && known.version >= event.version && known.role === event.role) continue;
      if (event.recurrence.length || known?.recurrence.length) this._expanded = null;
      this._remember(event);
      if (known) this._emit("event", { eventId: event.id, fields: new Set(Object.keys(event)) });
    }
    await this.reloadWeek();
  }

  async reloadWeek() {
    if (!this.window) return;
    const { start, end } = this.window;
    const recurring = [...this.events.values()].some((event) => event.recurrence.length);
    if (recurring && !this._expanded) {
      const expanded = await this._expandWeek(start, end);
      if (this.window.start !== start) return; // the user moved on meanwhile
      this._expanded = expanded;
    }
    const occurrences = [];
    for (const event of this.events.values()) {
      if (event.recurrence.length) continue;
      const [from, to] = [new Date(event.start_time), new Date(event.end_time)];
      if (from < end && to > start) occurrences.push({ eventId: event.id, start: from, end: to });
    }
    for (const item of recurring ? this._expanded : []) {
      if (!this.events.get(item.id)?.recurrence.length) continue;
      occurrences.push({
        eventId: item.id,
        occurrenceId: item.occurrence_id,
        start: new Date(item.occurrence_start),
        end: new Date(item.occurrence_end),
      });
    }
    this.occurrences = occurrences.sort((a, b) => a.start - b.start || a.eventId - b.eventId);
    this._syncRooms();
    this._emit("week", {});
  }

  async _expandWeek(start, end) {
    const found = [];
    let cursor = null;
    do {
      const query = new URLSearchParams({
        start: toWire(start),
        end: toWire(end),
        expand: "true",
        limit: "200",
      });
      if (cursor) query.set("cursor", cursor);
      const page = await this.api.request("GET", `/events?${query}`);
      found.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return found;
  }

  scheduleWeekReload() {
    clearTimeout(this._reloadTimer);
    this._reloadTimer = setTimeout(() => this.refresh().catch(console.error), WEEK_RELOAD_DELAY_MS);
  }

  async create(fields) {
    const event = await this.api.request("POST", "/events", fields);
    this._remember(event);
    await this.refresh();
    return event;
  }

  async remove(eventId) {
    await this.api.request("DELETE", `/events/${eventId}`);
  }

  /** Change one occurrence of a recurring event only (its override). */
  async setOccurrence(eventId, occurrenceId, fields) {
    await this.api.request("PUT", `/events/${eventId}/occurrences/${occurrenceId}`, fields);
  }

  /** "This and following": a new series from that occurrence on, with `changes`. */
  async splitFrom(eventId, occurrenceId, changes) {
    const { after } = await this.api.request("POST", `/events/${eventId}/split`, {
      occurrence_id: occurrenceId,
      changes,
    });
    this._remember(after);
    this.scheduleWeekReload();
    return after;
  }

  /** Cancel one occurrence of a recurring event (an EXDATE, its override dropped). */
  async cancelOccurrence(eventId, occurrenceId) {
    await this.api.request("DELETE", `/events/${eventId}/occurrences/${occurrenceId}`);
    this.scheduleWeekReload();
  }

  /** Cancel an occurrence and every later one: the series is split there and the
   *  new series (from that occurrence on) deleted. From the first occurrence, that is
   *  the whole event, which the server will not split there.
   *
   *  The first occurrence is not always at start_time: an RDATE may come before it
   *  (a split there leaves the old series those earlier dates). Rules begin at
   *  start_time, so without an RDATE nothing comes before it; with one, only the
   *  server, which expands recurrence, knows: its refusal says so. */
  async cancelFollowing(eventId, occurrenceId) {
    const event = this.events.get(eventId);
    const rdates = event.recurrence.some((line) => /^RDATE[;:]/i.test(line));
    if (occurrenceId === event.start_time && !rdates) return this.remove(eventId);
    let split;
    try {
      split = await this.api.request("POST", `/events/${eventId}/split`, {
        occurrence_id: occurrenceId,
      });
    } catch (error) {
      if (!isFirstOccurrence(error)) throw error;
      return this.remove(eventId);
    }
    await this.remove(split.after.id);
    this.scheduleWeekReload();
  }

  setOpen(eventId) {
    const previous = this.openId;
    this.openId = eventId;
    if (previous !== null) this.live.setPresence(previous, {});
    this._syncRooms();
    if (eventId !== null) this.live.setPresence(eventId, { open: true, focus: null });
  }

  setFocus(eventId, field) {
    this.live.setPresence(eventId, { open: true, focus: field });
  }

  /** Others in the event's room, with what they told us (open, focus). */
  othersIn(eventId) {
    const members = [...(this.members.get(eventId)?.values() ?? [])];
    return members.filter((m) => m.session !== this.live.session);
  }

  /**
   * Change document fields. One op per event is in flight at a time, so each op
   * is based on the version its predecessor produced; changes made meanwhile
   * are merged, the latest value of a field winning.
   */
  edit(eventId, fields) {
    const outbox = this._outbox(eventId);
    Object.assign(outbox.queued, fields);
    this._flush(eventId);
  }

  /** True while a change of `field` is queued or unacknowledged. */
  isSaving(eventId, field) {
    const outbox = this._outboxes.get(eventId);
    return Boolean(outbox && (field in outbox.queued || outbox.inFlight?.includes(field)));
  }

  _outbox(eventId) {
    if (!this._outboxes.has(eventId)) this._outboxes.set(eventId, { queued: {}, inFlight: null });
    return this._outboxes.get(eventId);
  }

  _flush(eventId) {
    const outbox = this._outbox(eventId);
    const changes = outbox.queued;
    const fields = Object.keys(changes);
    if (outbox.inFlight || fields.length === 0) return;
    const ops = fields.map((name) => ({ op: "replace", path: `/${name}`, value: changes[name] }));
    outbox.queued = {};
    outbox.inFlight = fields;
    this.live
      .submit(eventId, ops, this.events.get(eventId).version)
      .catch((error) => this._emit("refused", { eventId, changes, error }))
      .finally(() => {
        outbox.inFlight = null;
        if (this.events.has(eventId)) this._flush(eventId);
        else this._outboxes.delete(eventId);
      });
  }

  _remember(event) {
    const known = this.events.get(event.id);
    if (!known || event.version > known.version) this.events.set(event.id, event);
    else if (known.role !== event.role) known.role = event.role;
  }

  _syncRooms() {
    const wanted = new Set(this.occurrences.map((o) => o.eventId));
    if (this.openId !== null) wanted.add(this.openId);
    for (const eventId of this.live.rooms.keys()) {
      if (!wanted.has(eventId)) {
        this.live.leave(eventId);
        this.members.delete(eventId);
      }
    }
    for (const eventId of wanted) this.live.join(eventId, this.events.get(eventId)?.version);
  }

  _onSnapshot({ eventId, event }) {
    this._remember(event);
    this._emit("event", { eventId, fields: new Set(Object.keys(event)), own: false });
    this.scheduleWeekReload();
  }

  _onVersion({ eventId, version, ops, authorId, own }) {
    const known = this.events.get(eventId);
    if (!known || version <= known.version) return; // already in what we hold
    const updated = applyPatch(known, ops);
    updated.version = version;
    updated.updated_by = authorId;
    this.events.set(eventId, updated);
    const fields = touchedFields(ops);
    this._emit("event", { eventId, fields, authorId, own });
    if ([...fields].some((name) => LAYOUT_FIELDS.has(name))) {
      if (updated.recurrence.length || known.recurrence.length) this._expanded = null;
      this.scheduleWeekReload();
    }
  }

  _onMembers({ eventId, members }) {
    this.members.set(eventId, new Map(members.map((m) => [m.session, m])));
    this._emit("members", { eventId });
  }

  _onPresence({ eventId, joined, left, updated }) {
    const room = this.members.get(eventId);
    if (!room) return;
    for (const member of [...joined, ...updated]) room.set(member.session, member);
    for (const member of left) room.delete(member.session);
    this._emit("members", { eventId });
  }

  _onAccess({ eventId, role }) {
    const known = this.events.get(eventId);
    if (!known) {
      // Shared with this user just now: it belongs in the calendar.
      this.scheduleWeekReload();
      this._emit("access", { eventId, role, previous: null });
      return;
    }
    const previous = known.role;
    known.role = role;
    if (previous !== role) this._emit("access", { eventId, role, previous });
  }

  _onRemoved({ eventId, reason }) {
    const title = this.events.get(eventId)?.title;
    this.events.delete(eventId);
    this.members.delete(eventId);
    this.occurrences = this.occurrences.filter((o) => o.eventId !== eventId);
    if (this.openId === eventId) this.openId = null;
    this._emit("removed", { eventId, reason, title });
    this._emit("week", {});
  }
}
