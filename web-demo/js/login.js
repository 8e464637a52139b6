// The sign-in card: log in, or sign up, with the server's own words when it says no.

import { h } from "./ui.js";

const MESSAGES = {
  invalid_credentials: "Wrong username or password.",
  username_taken: "That username is taken.",
  email_taken: "An account already uses that email.",
  rate_limited: "Too many attempts. Wait a moment and try again.",
};

export class LoginView {
  constructor(root, api, onSignedIn) {
    this.root = root;
    this.api = api;
    this.onSignedIn = onSignedIn;
    this.mode = "login";
    this.fields = {
      username: h("input", { name: "username", autocomplete: "username", required: true }),
      email: h("input", { name: "email", type: "email", autocomplete: "email" }),
      password: h("input", {
        name: "password",
        type: "password",
        autocomplete: "current-password",
        required: true,
        minlength: 8,
      }),
    };
    this.error = h("div", { class: "form-error", role: "alert" });
    this.submit = h("button", { class: "btn primary wide", type: "submit" });
    this.switcher = h("button", {
      class: "link",
      type: "button",
      onclick: () => this._setMode(this.mode === "login" ? "signup" : "login"),
    });
    this.emailRow = h("label", {}, "Email", this.fields.email);
    root.append(
      h(
        "form",
        { class: "login-card", onsubmit: (e) => this._submit(e) },
        h("div", { class: "brand big" }, h("span", { class: "logo" }), "Tandem"),
        h("p", { class: "tagline" }, "One calendar, edited together, live."),
        h("label", {}, "Username", this.fields.username),
        this.emailRow,
        h("label", {}, "Password", this.fields.password),
        this.error,
        this.submit,
        h("p", { class: "switch" }, this.switcher),
      ),
    );
    this._setMode("login");
  }

  _setMode(mode) {
    this.mode = mode;
    const signup = mode === "signup";
    this.emailRow.hidden = !signup;
    this.fields.email.required = signup;
    this.fields.password.autocomplete = signup ? "new-password" : "current-password";
    this.submit.textContent = signup ? "Create account" : "Log in";
    this.switcher.textContent = signup
      ? "I have an account — log in"
      : "New here? Create an account";
    this.error.textContent = "";
  }

  async _submit(event) {
    event.preventDefault();
    const { username, email, password } = this.fields;
    this.submit.disabled = true;
    this.error.textContent = "";
    try {
      if (this.mode === "signup")
        await this.api.register(username.value.trim(), email.value.trim(), password.value);
      else await this.api.login(username.value.trim(), password.value);
      password.value = "";
      this.onSignedIn();
    } catch (error) {
      const fields = Object.entries(error.details?.fields ?? {});
      this.error.textContent =
        MESSAGES[error.code] ??
        (fields.length ? fields.map(([name, why]) => `${name} ${why}`).join("; ") : error.message);
    } finally {
      this.submit.disabled = false;
    }
  }
}
