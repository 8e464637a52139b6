// The share dialog: who has access and with which role; the owner grants,
// changes and revokes, anyone else may leave.

import { avatar, h, toast } from "./ui.js";

export class ShareDialog {
  constructor(store) {
    this.store = store;
    this.eventId = null;
    this.error = h("div", { class: "form-error", role: "alert" });
    this.username = h("input", {
      type: "text",
      placeholder: "Username",
      "aria-label": "Username",
      required: true,
    });
    this.role = h(
      "select",
      { "aria-label": "Role" },
      h("option", { value: "editor" }, "Can edit"),
      h("option", { value: "viewer" }, "Can view"),
    );
    this.form = h(
      "form",
      { class: "share-form", onsubmit: (e) => this._share(e) },
      this.username,
      this.role,
      h("button", { class: "btn primary", type: "submit" }, "Share"),
    );
    this.list = h("ul", { class: "permissions", "data-testid": "permissions" });
    this.heading = h("h2");
    this.dialog = h(
      "dialog",
      { class: "share-dialog" },
      h(
        "div",
        { class: "dialog-head" },
        this.heading,
        h(
          "button",
          { class: "btn icon ghost", "aria-label": "Close", onclick: () => this.dialog.close() },
          "×",
        ),
      ),
      this.form,
      this.error,
      this.list,
    );
    document.body.append(this.dialog);
    store.addEventListener(
      "removed",
      (e) => e.detail.eventId === this.eventId && this.dialog.close(),
    );
    // Ownership moved, or the owner changed my role: redraw what I may do.
    store.addEventListener("access", (e) => {
      if (e.detail.eventId !== this.eventId || !this.dialog.open) return;
      this.form.hidden = !this._isOwner;
      this._call("GET", "permissions");
    });
  }

  get _isOwner() {
    return this.store.events.get(this.eventId)?.role === "owner";
  }

  async open(eventId) {
    this.eventId = eventId;
    this.heading.textContent = `Share “${this.store.events.get(eventId).title}”`;
    this.form.hidden = !this._isOwner;
    this.error.textContent = "";
    this.list.replaceChildren();
    this.dialog.showModal();
    if (this._isOwner) this.username.focus();
    await this._call("GET", "permissions");
  }

  /** One permissions call; the list is redrawn from the answer, errors shown in the dialog. */
  async _call(method, path, body) {
    this.error.textContent = "";
    try {
      const answer = await this.store.api.request(method, `/events/${this.eventId}/${path}`, body);
      if (answer) this._render(answer.items);
      return true;
    } catch (error) {
      this.error.textContent =
        error.code === "not_found" && body?.users ? "No user by that name." : error.message;
      return false;
    }
  }

  async _share(submit) {
    submit.preventDefault();
    const username = this.username.value.trim();
    const ok = await this._call("POST", "share", { users: [{ username, role: this.role.value }] });
    if (ok) {
      toast(`Shared with ${username}.`, "success");
      this.username.value = "";
    }
  }

  _render(permissions) {
    const me = this.store.api.user.id;
    this.list.replaceChildren(
      ...permissions.map((p) =>
        h(
          "li",
          { dataset: { username: p.username } },
          avatar(p.username),
          h(
            "span",
            { class: "who" },
            p.username,
            p.user_id === me ? h("span", { class: "meta" }, " (you)") : null,
          ),
          this._roleControl(p),
          this._removeControl(p, me),
        ),
      ),
    );
  }

  _roleControl(permission) {
    if (permission.role === "owner" || !this._isOwner) {
      return h("span", { class: `role-badge role-${permission.role}` }, permission.role);
    }
    const select = h(
      "select",
      {
        "aria-label": `Role of ${permission.username}`,
        onchange: () =>
          this._call("PUT", `permissions/${permission.user_id}`, { role: select.value }),
      },
      h("option", { value: "editor" }, "Can edit"),
      h("option", { value: "viewer" }, "Can view"),
      h("option", { value: "owner" }, "Make owner"),
    );
    select.value = permission.role;
    return select;
  }

  _removeControl(permission, me) {
    if (permission.role === "owner") return null;
    const self = permission.user_id === me;
    if (!self && !this._isOwner) return null;
    return h(
      "button",
      {
        class: "btn small ghost danger",
        onclick: async () => {
          if (!(await this._call("DELETE", `permissions/${permission.user_id}`))) return;
          if (self) this.dialog.close();
          else await this._call("GET", "permissions");
        },
      },
      self ? "Leave" : "Remove",
    );
  }
}
