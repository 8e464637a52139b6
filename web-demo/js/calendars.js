// The calendar dialog: secret subscription URLs for calendar applications (create,
// copy, revoke) and importing an .ics file.

import { h, toast } from "./ui.js";

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export class CalendarDialog {
  constructor(store) {
    this.store = store;
    this.error = h("div", { class: "form-error", role: "alert" });
    this.url = h("input", { type: "text", readonly: true, "aria-label": "Subscription URL" });
    this.copy = h("button", { class: "btn", type: "button", onclick: () => this._copy() }, "Copy");
    this.created = h("div", { class: "feed-url", hidden: true }, this.url, this.copy);
    this.feeds = h("ul", { class: "permissions", "data-testid": "feeds" });
    this.file = h("input", { type: "file", accept: ".ics,text/calendar", "aria-label": "File" });
    this.dialog = h(
      "dialog",
      { class: "share-dialog", "aria-label": "Calendar" },
      h(
        "div",
        { class: "dialog-head" },
        h("h2", {}, "Subscribe"),
        h(
          "button",
          { class: "btn icon ghost", "aria-label": "Close", onclick: () => this.dialog.close() },
          "×",
        ),
      ),
      h(
        "p",
        { class: "meta" },
        "Calendar apps can follow your calendar at a secret address. Anyone with it " +
          "can read your events: revoke it when you no longer use it.",
      ),
      h(
        "button",
        { class: "btn primary", type: "button", onclick: () => this._create() },
        "New subscription URL",
      ),
      this.created,
      this.feeds,
      h("h2", { class: "dialog-section" }, "Import"),
      h(
        "form",
        { class: "share-form", onsubmit: (e) => this._import(e) },
        this.file,
        h("button", { class: "btn primary", type: "submit" }, "Import"),
      ),
      this.error,
    );
    document.body.append(this.dialog);
  }

  async open() {
    this.error.textContent = "";
    this.created.hidden = true;
    this.copy.textContent = "Copy";
    this.dialog.showModal();
    await this._list();
  }

  async _call(method, path, body, contentType) {
    this.error.textContent = "";
    try {
      return await this.store.api.request(method, path, body, contentType);
    } catch (error) {
      this.error.textContent = describe(error);
      return null;
    }
  }

  async _create() {
    const feed = await this._call("POST", "/feeds");
    if (!feed) return;
    // Shown only now: the server keeps no copy of the URL.
    this.url.value = feed.url;
    this.copy.textContent = "Copy";
    this.created.hidden = false;
    await this._list();
  }

  async _copy() {
    try {
      await navigator.clipboard.writeText(this.url.value);
    } catch {
      // No clipboard permission (an insecure origin): select it for Ctrl+C instead.
      this.url.select();
      document.execCommand("copy");
    }
    this.copy.textContent = "Copied";
  }

  async _list() {
    const answer = await this._call("GET", "/feeds");
    if (!answer) return;
    this.feeds.replaceChildren(
      ...answer.items.map((feed) =>
        h(
          "li",
          { dataset: { feedId: feed.id } },
          h(
            "span",
            { class: "who" },
            `Created ${WHEN.format(new Date(feed.created_at))}`,
            h(
              "span",
              { class: "meta" },
              feed.last_used_at
                ? ` · last read ${WHEN.format(new Date(feed.last_used_at))}`
                : " · never read",
            ),
          ),
          h(
            "button",
            { class: "btn ghost danger", type: "button", onclick: () => this._revoke(feed.id) },
            "Revoke",
          ),
        ),
      ),
    );
  }

  async _revoke(feedId) {
    await this._call("DELETE", `/feeds/${feedId}`);
    if (this.error.textContent) return;
    this.created.hidden = true;
    await this._list();
  }

  async _import(submit) {
    submit.preventDefault();
    const [file] = this.file.files;
    if (!file) {
      this.error.textContent = "Choose an .ics file first.";
      return;
    }
    const done = await this._call("POST", "/events/import", await file.text(), "text/calendar");
    if (!done) return;
    toast(
      `Imported: ${done.created.length} new, ${done.updated.length} updated, ` +
        `${done.unchanged.length} unchanged.`,
      "success",
    );
    this.file.value = "";
    await this.store.refresh(); // the new events arrive through /sync
  }
}

/** An error as a sentence; a refused import names each VEVENT and what is wrong with it. */
function describe(error) {
  const refused = Object.entries(error.details?.errors ?? {}).map(
    ([index, { fields }]) =>
      `Event ${Number(index) + 1}: ` +
      Object.entries(fields)
        .map(([name, why]) => `${name} ${why}`)
        .join("; "),
  );
  const fields = Object.values(error.details?.fields ?? {});
  return [error.message, ...refused, ...fields].join("\n");
}
