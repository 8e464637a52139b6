// The history tab: every version with its author and the server's one-line
// summary, a side-by-side diff of two chosen versions, and one-click rollback.

import { FIELD_LABELS, avatar, formatStamp, h, relativeTime, toast } from "./ui.js";

const REFRESH_DELAY_MS = 150;
const ORIGINS = { create: "created", rest: "via API", ws: "live", rollback: "restore" };

export class HistoryPanel {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.eventId = null;
    this.entries = [];
    this.selected = new Set();
    this._timer = null;
    this.compareButton = h(
      "button",
      { class: "btn small", disabled: true, onclick: () => this._compare() },
      "Compare",
    );
    this.list = h("ol", { class: "versions", "data-testid": "versions" });
    this.diff = h("div", { class: "diff", hidden: true, "data-testid": "diff" });
    root.append(
      h(
        "div",
        { class: "history-toolbar" },
        h("span", { class: "hint" }, "Pick versions to compare"),
        this.compareButton,
      ),
      this.list,
      this.diff,
    );
  }

  async load(eventId) {
    if (eventId !== this.eventId) {
      this.selected.clear();
      this.diff.hidden = true;
    }
    this.eventId = eventId;
    try {
      const page = await this.store.api.request(
        "GET",
        `/events/${eventId}/changelog?order=desc&limit=100`,
      );
      if (eventId !== this.eventId) return;
      this.entries = page.items;
      this._render();
    } catch (error) {
      toast(`History unavailable: ${error.message}`, "error");
    }
  }

  refreshSoon() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.load(this.eventId), REFRESH_DELAY_MS);
  }

  _render() {
    const latest = this.entries[0]?.version;
    const canRestore = this.store.events.get(this.eventId)?.role !== "viewer";
    this.list.replaceChildren(
      ...this.entries.map((entry) =>
        h(
          "li",
          {
            class: `version ${this.selected.has(entry.version) ? "picked" : ""}`,
            dataset: { version: entry.version },
          },
          h("input", {
            type: "checkbox",
            "aria-label": `Compare version ${entry.version}`,
            checked: this.selected.has(entry.version),
            onchange: (e) => this._pick(entry.version, e.target.checked),
          }),
          avatar(entry.author.username),
          h(
            "div",
            { class: "version-text" },
            h("div", { class: "summary" }, entry.summary),
            h(
              "div",
              { class: "meta", title: formatStamp(new Date(entry.at)) },
              h("strong", {}, `v${entry.version}`),
              ` · ${entry.author.username} · ${relativeTime(entry.at)} · ${ORIGINS[entry.origin] ?? entry.origin}`,
            ),
          ),
          entry.version === latest
            ? h("span", { class: "current" }, "current")
            : canRestore
              ? h(
                  "button",
                  { class: "btn small", onclick: () => this._restore(entry.version) },
                  "Restore",
                )
              : null,
        ),
      ),
    );
    this._updateCompareButton();
  }

  _pick(version, picked) {
    if (picked) this.selected.add(version);
    else this.selected.delete(version);
    // Two at most: the oldest pick gives way.
    if (this.selected.size > 2) this.selected.delete(this.selected.values().next().value);
    this._render();
  }

  _pair() {
    const versions = [...this.selected].sort((a, b) => a - b);
    if (versions.length === 1) versions.push(this.entries[0].version);
    return versions;
  }

  _updateCompareButton() {
    const [from, to] = this._pair();
    this.compareButton.disabled = this.selected.size === 0 || from === to;
    this.compareButton.textContent =
      this.selected.size === 1
        ? `Compare v${from} with current`
        : this.selected.size === 2
          ? `Compare v${from} and v${to}`
          : "Compare";
  }

  async _compare() {
    const [from, to] = this._pair();
    let diff;
    try {
      diff = await this.store.api.request("GET", `/events/${this.eventId}/diff/${from}/${to}`);
    } catch (error) {
      toast(`Cannot compare: ${error.message}`, "error");
      return;
    }
    const byVersion = new Map(this.entries.map((e) => [e.version, e]));
    const heading = (version) => {
      const entry = byVersion.get(version);
      return h(
        "th",
        {},
        `v${version}`,
        entry ? h("span", { class: "meta" }, ` ${entry.author.username}`) : null,
      );
    };
    const rows = diff.changes.map((change) =>
      h(
        "tr",
        {},
        h(
          "th",
          { scope: "row" },
          change.field === "metadata"
            ? change.path.slice(1)
            : (FIELD_LABELS[change.field] ?? change.field),
        ),
        h("td", { class: "old" }, describe(change.field, change.old_value)),
        h("td", { class: "new" }, describe(change.field, change.new_value)),
      ),
    );
    this.diff.replaceChildren(
      h(
        "div",
        { class: "diff-head" },
        h("strong", {}, `Changes from v${from} to v${to}`),
        h(
          "button",
          {
            class: "btn icon ghost",
            "aria-label": "Close diff",
            onclick: () => (this.diff.hidden = true),
          },
          "×",
        ),
      ),
      rows.length
        ? h(
            "table",
            {},
            h("thead", {}, h("tr", {}, h("th"), heading(from), heading(to))),
            h("tbody", {}, rows),
          )
        : h("p", { class: "hint" }, "These versions are identical."),
    );
    this.diff.hidden = false;
  }

  async _restore(version) {
    try {
      await this.store.api.request("POST", `/events/${this.eventId}/rollback/${version}`);
      toast(`Restored version ${version}.`, "success");
    } catch (error) {
      toast(`Not restored: ${error.message}`, "error");
    }
  }
}

/** A field's value as a person reads it. */
function describe(field, value) {
  if (value === null || value === undefined || value === "") return "—";
  if (field.endsWith("_time")) return formatStamp(new Date(value));
  if (Array.isArray(value)) return value.length ? value.join("\n") : "does not repeat";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
