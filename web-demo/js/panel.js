// The side panel: one event's fields, edited live, with who else is here and
// why an edit was refused.

import { ActivityPanel } from "./activity.js";
import { fieldControl } from "./fields.js";
import { HistoryPanel } from "./history.js";
import { FIELD_LABELS, avatar, colorFor, h, toWire, toast } from "./ui.js";

// The fields one occurrence may change on its own (PROTOCOL.md, overrides).
const OVERRIDABLE = new Set(["title", "description", "location", "start_time", "end_time"]);

const REFUSALS = {
  forbidden: "You can view this event but not edit it. Your change was not saved.",
  version_conflict:
    "Not saved: someone else changed this at the same moment. Their version is shown.",
  not_found: "This event is no longer shared with you.",
  rate_limited: "Too many changes at once; slow down a little.",
};

export class EventPanel {
  constructor(root, store, { onShare, onClosed }) {
    this.root = root;
    this.store = store;
    this.onShare = onShare;
    this.onClosed = onClosed;
    this.eventId = null;
    this._typing = new Map(); // field -> timer of a change not yet handed to the store
    this._build();
    // Only news about the open event matters here.
    const on = (type, handler) =>
      store.addEventListener(type, ({ detail }) => {
        if (detail.eventId === this.eventId) handler(detail);
      });
    on("event", (detail) => this._onChanged(detail));
    on("members", () => this._renderPresence());
    on("access", (detail) => this._onAccess(detail));
    on("refused", (detail) => this._onRefused(detail));
    on("removed", () => this.close());
  }

  get event() {
    return this.store.events.get(this.eventId);
  }

  _build() {
    this.roleBadge = h("span", { class: "role-badge", "data-testid": "role" });
    this.presence = h("div", { class: "presence", "data-testid": "presence" });
    this.deleteButton = h(
      "button",
      { class: "btn ghost danger", onclick: () => this._delete() },
      "Delete",
    );
    // Which occurrences an edit changes, when the panel shows one of a series.
    const editChoice = (scope, label) =>
      h(
        "button",
        {
          class: "btn",
          type: "button",
          dataset: { scope },
          "aria-pressed": scope === "all" ? "true" : "false",
          onclick: () => this._setEditScope(scope),
        },
        label,
      );
    this.editScopes = h(
      "div",
      { class: "scope-choice", role: "group", "aria-label": "Edit which?", hidden: true },
      h("span", {}, "Edit"),
      editChoice("this", "This event"),
      editChoice("following", "This and following"),
      editChoice("all", "All events"),
    );
    const choice = (scope, label) =>
      h("button", { class: "btn", onclick: () => this._deleteIn(scope) }, label);
    this.scope = h(
      "div",
      { class: "scope-choice", role: "group", "aria-label": "Delete which?", hidden: true },
      h("span", {}, "Delete which?"),
      choice("this", "This event"),
      choice("following", "This and following"),
      choice("all", "All events"),
    );
    this.notice = h("div", {
      class: "notice",
      role: "alert",
      hidden: true,
      "data-testid": "notice",
    });
    this.tabs = {
      details: h(
        "button",
        { class: "tab active", onclick: () => this._showTab("details") },
        "Details",
      ),
      history: h("button", { class: "tab", onclick: () => this._showTab("history") }, "History"),
      // The audit trail is the owner's to read.
      activity: h(
        "button",
        { class: "tab", hidden: true, onclick: () => this._showTab("activity") },
        "Activity",
      ),
    };
    this.form = h("form", { class: "details", onsubmit: (e) => e.preventDefault() });
    this.controls = {};
    for (const name of Object.keys(FIELD_LABELS)) this.form.append(this._field(name));
    const historyRoot = h("div", { class: "history", hidden: true });
    this.history = new HistoryPanel(historyRoot, this.store);
    this.activityRoot = h("div", { class: "history", hidden: true });
    this.activity = new ActivityPanel(this.activityRoot, this.store);
    this.root.append(
      h(
        "header",
        { class: "panel-header" },
        h(
          "div",
          { class: "panel-bar" },
          this.roleBadge,
          h("span", { class: "spacer" }),
          h("button", { class: "btn ghost", onclick: () => this.onShare(this.eventId) }, "Share"),
          this.deleteButton,
          h(
            "button",
            { class: "btn icon ghost", "aria-label": "Close", onclick: () => this.close() },
            "×",
          ),
        ),
        this.scope,
        this.editScopes,
        this.presence,
        h("nav", { class: "tabs" }, this.tabs.details, this.tabs.history, this.tabs.activity),
      ),
      this.notice,
      this.form,
      historyRoot,
      this.activityRoot,
    );
    this.historyRoot = historyRoot;
  }

  _field(name) {
    const control = fieldControl(name, (delay) => this._changed(name, delay));
    this.controls[name] = control;
    for (const element of control.focusables) {
      element.addEventListener("focus", () => this.store.setFocus(this.eventId, name));
      element.addEventListener("blur", () => {
        this._sendNow(name);
        this.store.setFocus(this.eventId, null);
      });
    }
    return h(
      "div",
      { class: "field", dataset: { field: name } },
      h("label", { for: control.labelFor }, FIELD_LABELS[name]),
      control.element,
      h("span", { class: "peer-tag" }),
      h("div", { class: "field-error", role: "alert" }),
    );
  }

  open(eventId, { focusTitle = false, occurrenceId = null } = {}) {
    if (this.eventId !== eventId) this._flushTyping();
    this.eventId = eventId;
    // The occurrence clicked, for "this event / this and following" (null: a single
    // event, or one opened some other way).
    this.occurrenceId = occurrenceId;
    this.scope.hidden = true;
    this.editScopes.hidden = !(occurrenceId && this.event.recurrence.length);
    this._setEditScope("all", { redraw: false });
    this.store.setOpen(eventId);
    this.root.hidden = false;
    this._hideNotice();
    for (const name of Object.keys(FIELD_LABELS)) this._showValue(name);
    this._renderRole();
    this._renderPresence();
    this._showTab("details");
    if (focusTitle) {
      this.controls.title.element.focus();
      this.controls.title.element.select();
    }
  }

  close() {
    if (this.eventId === null) return;
    this._flushTyping();
    this.eventId = null;
    if (this.store.openId !== null) this.store.setOpen(null);
    this.root.hidden = true;
    this.onClosed();
  }

  // Field values: the document's, except where the user has a change on its way.

  _showValue(name) {
    const shown = this.editScope === "all" ? this.event : this._occurrence();
    this.controls[name].write(shown[name]);
  }

  /** The open occurrence as it now is: the series' fields, its override's, its times. */
  _occurrence() {
    const event = this.event;
    const override = event.overrides?.[this.occurrenceId] ?? {};
    const length = new Date(event.end_time) - new Date(event.start_time);
    const start = override.start_time ?? this.occurrenceId;
    const end = override.end_time ?? toWire(new Date(new Date(start).getTime() + length));
    return { ...event, ...override, start_time: start, end_time: end };
  }

  _setEditScope(scope, { redraw = true } = {}) {
    if (redraw) this._flushTyping(); // what was typed goes where it was typed for
    this.editScope = scope;
    for (const button of this.editScopes.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.scope === scope));
    }
    if (redraw) for (const name of Object.keys(FIELD_LABELS)) this._showValue(name);
  }

  _isDirty(name) {
    return this._typing.has(name) || this.store.isSaving(this.eventId, name);
  }

  _changed(name, delay) {
    this._fieldError(name, "");
    clearTimeout(this._typing.get(name));
    this._typing.set(
      name,
      setTimeout(() => this._sendNow(name), delay),
    );
  }

  _sendNow(name) {
    if (!this._typing.has(name)) return;
    clearTimeout(this._typing.get(name));
    this._typing.delete(name);
    const changes = { [name]: this.controls[name].read() };
    const shown = this.editScope === "all" ? this.event : this._occurrence();
    if (name === "start_time" && changes.start_time) {
      // Moving the start moves the whole event: the duration is kept.
      const duration = new Date(shown.end_time) - new Date(shown.start_time);
      changes.end_time = toWire(new Date(new Date(changes.start_time).getTime() + duration));
    }
    if (this.editScope === "this" && OVERRIDABLE.has(name)) {
      this._sendToOccurrence(changes);
    } else if (this.editScope === "following" && this.occurrenceId !== this.event.start_time) {
      this._sendToFollowing(changes);
    } else {
      this.store.edit(this.eventId, changes);
    }
  }

  async _sendToOccurrence(changes) {
    try {
      await this.store.setOccurrence(this.eventId, this.occurrenceId, changes);
    } catch (error) {
      for (const name of Object.keys(changes)) this._fieldError(name, `Not saved: ${error.message}`);
    }
  }

  /** "This and following": the series is split here, and the panel moves to the new one. */
  async _sendToFollowing(changes) {
    try {
      const after = await this.store.splitFrom(this.eventId, this.occurrenceId, changes);
      this.open(after.id, { occurrenceId: after.start_time });
    } catch (error) {
      for (const name of Object.keys(changes)) this._fieldError(name, `Not saved: ${error.message}`);
    }
  }

  _flushTyping() {
    for (const name of [...this._typing.keys()]) this._sendNow(name);
  }

  _onChanged({ fields }) {
    // An override changes what an occurrence shows in any of its fields.
    const names = [...fields];
    const shown = names.includes("overrides") ? Object.keys(FIELD_LABELS) : names;
    for (const name of shown) {
      if (name in FIELD_LABELS && !this._isDirty(name)) this._showValue(name);
    }
    if (!this.historyRoot.hidden) this.history.refreshSoon();
    if (!this.activityRoot.hidden) this.activity.refreshSoon();
  }

  _onRefused({ changes, error }) {
    const message = REFUSALS[error.code] ?? `Not saved: ${error.message}`;
    if (error.code === "forbidden" || error.code === "rate_limited") {
      this._showNotice(message, error.code);
    }
    for (const [name, mine] of Object.entries(changes)) {
      if (!this._typing.has(name)) this._showValue(name);
      if (error.code === "forbidden") continue;
      // After a conflict the choice stays with the person: theirs is shown, mine is one click away.
      const keepMine =
        error.code === "version_conflict" && name in FIELD_LABELS
          ? h(
              "button",
              { class: "link", type: "button", onclick: () => this._keepMine(name, mine) },
              "Use mine instead",
            )
          : null;
      this._fieldError(name, message, keepMine);
    }
  }

  _keepMine(name, value) {
    this._fieldError(name, "");
    this.store.edit(this.eventId, { [name]: value });
  }

  _onAccess({ role, previous }) {
    this._renderRole();
    if (previous) toast(`Your role on “${this.event.title}” is now ${role}.`);
  }

  _renderRole() {
    const role = this.event.role;
    this.roleBadge.textContent = role;
    this.roleBadge.className = `role-badge role-${role}`;
    this.deleteButton.hidden = role !== "owner";
    this.tabs.activity.hidden = role !== "owner";
    if (role !== "owner" && !this.activityRoot.hidden) this._showTab("details");
    if (role === "viewer") this._showNotice("View only: you are a viewer of this event.", "viewer");
    else this._hideNotice("viewer");
  }

  _renderPresence() {
    const others = this.store.othersIn(this.eventId).filter((m) => m.state?.open);
    this.presence.replaceChildren(
      ...others.map((m) =>
        h(
          "span",
          { class: "peer", title: `${m.username} has this event open` },
          avatar(m.username),
          h("span", { class: "peer-name" }, m.username),
          m.state.focus
            ? h(
                "span",
                { class: "peer-focus" },
                `in ${FIELD_LABELS[m.state.focus] ?? m.state.focus}`,
              )
            : null,
        ),
      ),
    );
    for (const field of this.form.querySelectorAll(".field")) {
      const here = others.filter((m) => m.state.focus === field.dataset.field);
      field.classList.toggle("peer-focused", here.length > 0);
      field.style.setProperty("--peer-color", here.length ? colorFor(here[0].username) : "");
      field.querySelector(".peer-tag").textContent = here.map((m) => m.username).join(", ");
    }
  }

  _fieldError(name, message, action = null) {
    const field = this.form.querySelector(`[data-field="${name}"]`);
    field.classList.toggle("invalid", Boolean(message));
    field.querySelector(".field-error").replaceChildren(message, action ?? "");
  }

  _showNotice(message, kind) {
    this.notice.textContent = message;
    this.notice.dataset.kind = kind;
    this.notice.hidden = false;
  }

  /** Hide the notice (only one of `kind`, when given). */
  _hideNotice(kind) {
    if (kind && this.notice.dataset.kind !== kind) return;
    this.notice.hidden = true;
  }

  _showTab(name) {
    for (const [tab, button] of Object.entries(this.tabs))
      button.classList.toggle("active", tab === name);
    this.form.hidden = name !== "details";
    this.historyRoot.hidden = name !== "history";
    this.activityRoot.hidden = name !== "activity";
    if (name === "history") this.history.load(this.eventId);
    if (name === "activity") this.activity.load(this.eventId);
  }

  async _delete() {
    if (this.event.recurrence.length && this.occurrenceId) {
      this.scope.hidden = !this.scope.hidden;
      return;
    }
    const button = this.deleteButton;
    if (!button.classList.contains("confirm")) {
      button.classList.add("confirm");
      button.textContent = "Really delete?";
      setTimeout(() => {
        button.classList.remove("confirm");
        button.textContent = "Delete";
      }, 3000);
      return;
    }
    await this._deleteIn("all");
  }

  /** Delete the clicked occurrence ("this"), it and the later ones ("following"), or
   *  the whole series ("all"). */
  async _deleteIn(scope) {
    this.scope.hidden = true;
    const { eventId, occurrenceId } = this;
    try {
      if (scope === "this") await this.store.cancelOccurrence(eventId, occurrenceId);
      else if (scope === "following") await this.store.cancelFollowing(eventId, occurrenceId);
      else await this.store.remove(eventId);
    } catch (error) {
      toast(error.message, "error");
    }
  }
}
