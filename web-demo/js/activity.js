// The activity tab (the event's owner only): the event's audit trail, who did
// what and when, oldest first, from GET /events/{id}/audit.

import { avatar, formatStamp, h, relativeTime, toast } from "./ui.js";

const REFRESH_DELAY_MS = 150;
const PAGE_SIZE = 200;
const SAYS = {
  event_create: () => "created the event",
  event_update: (r) => `saved version ${r.version}`,
  event_delete: () => "deleted the event",
  event_split: () => "split the series",
  share: (r, name) => `shared it with ${name}`,
  role_change: (r, name) => `changed ${name}'s role`,
  revoke: (r, name) => `removed ${name}`,
  ownership_transfer: (r, name) => `made ${name} the owner`,
};

export class ActivityPanel {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.eventId = null;
    this._timer = null;
    this.list = h("ol", { class: "versions activity", "data-testid": "activity" });
    root.append(this.list);
  }

  async load(eventId) {
    this.eventId = eventId;
    try {
      const [records, people] = await Promise.all([this._trail(eventId), this._names(eventId)]);
      if (eventId !== this.eventId) return;
      this._render(records, people);
    } catch (error) {
      toast(`Activity unavailable: ${error.message}`, "error");
    }
  }

  refreshSoon() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.load(this.eventId), REFRESH_DELAY_MS);
  }

  async _trail(eventId) {
    const records = [];
    let cursor = null;
    do {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (cursor) query.set("cursor", cursor);
      const page = await this.store.api.request("GET", `/events/${eventId}/audit?${query}`);
      records.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return records;
  }

  /** Names of the people the records point at: those with access now, and the actors. */
  async _names(eventId) {
    const page = await this.store.api.request("GET", `/events/${eventId}/permissions`);
    return new Map(page.items.map((p) => [p.user_id, p.username]));
  }

  _render(records, people) {
    for (const record of records) if (record.actor) people.set(record.actor.id, record.actor.username);
    const name = (id) => people.get(id) ?? `user #${id}`;
    this.list.replaceChildren(
      ...records.map((record) => {
        const actor = record.actor?.username ?? "someone";
        const says = SAYS[record.action]?.(record, name(record.target_user_id)) ?? record.action;
        return h(
          "li",
          { class: "version", dataset: { action: record.action } },
          avatar(actor),
          h(
            "div",
            { class: "version-text" },
            h("div", { class: "summary" }, `${actor} ${says}`),
            h(
              "div",
              { class: "meta", title: formatStamp(new Date(record.at)) },
              `${relativeTime(record.at)} · from ${record.ip ?? "?"}`,
            ),
          ),
        );
      }),
    );
  }
}
