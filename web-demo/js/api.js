// The REST half of the contract: sign-in, token refresh, and calls that fail
// with the contract's stable error codes.

const BASE = "/api/v1";
// Per tab, not localStorage: two tabs sharing one refresh token would both
// rotate it, and presenting a used refresh token revokes the whole login.
const STORAGE_KEY = "tandem.session";
// Refresh this long before the access token expires, so a socket never sees it lapse.
const REFRESH_MARGIN_MS = 60_000;

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Events: "token" after every new token pair, "signedout" when the login is gone. */
export class Api extends EventTarget {
  constructor() {
    super();
    this.session = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    this._refreshing = null;
    this._timer = null;
    if (this.session) this._scheduleRefresh();
  }

  get user() {
    return this.session?.user ?? null;
  }

  async register(username, email, password) {
    this._adopt(await this._send("POST", "/auth/register", { username, email, password }));
  }

  async login(username, password) {
    this._adopt(await this._send("POST", "/auth/login", { username, password }));
  }

  async logout() {
    try {
      await this.request("POST", "/auth/logout", { refresh_token: this.session?.refresh_token });
    } finally {
      this._forget();
    }
  }

  /** An access token valid for at least a little while (refreshed first when needed). */
  async freshToken() {
    if (this.session && this.session.expires_at - Date.now() < REFRESH_MARGIN_MS) {
      await this.refresh();
    }
    return this.session?.access_token;
  }

  /** One refresh at a time: concurrent callers share it (a second would reuse the token). */
  refresh() {
    this._refreshing ??= this._send("POST", "/auth/refresh", {
      refresh_token: this.session?.refresh_token,
    })
      .then((grant) => this._adopt(grant))
      .catch((error) => {
        if (error.status === 401) this._forget();
        throw error;
      })
      .finally(() => {
        this._refreshing = null;
      });
    return this._refreshing;
  }

  /** An authenticated call; an expired access token is refreshed once and the call retried. */
  async request(method, path, body, contentType = "application/json") {
    try {
      return await this._send(method, path, body, await this.freshToken(), contentType);
    } catch (error) {
      if (error.code !== "token_expired" || !this.session) throw error;
      await this.refresh();
      return this._send(method, path, body, this.session.access_token, contentType);
    }
  }

  /** A body in JSON is encoded here; any other content type is sent as given (text). */
  async _send(method, path, body, token, contentType = "application/json") {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = contentType;
    if (token) headers.Authorization = `Bearer ${token}`;
    const json = contentType === "application/json";
    let response;
    try {
      response = await fetch(BASE + path, {
        method,
        headers,
        body: body === undefined ? undefined : json ? JSON.stringify(body) : body,
      });
    } catch {
      throw new ApiError(0, "network", "The server cannot be reached. Check your connection.");
    }
    if (response.status === 204) return null;
    const payload = await response.json().catch(() => null);
    if (!response.ok) {
      const error = payload?.error ?? {};
      throw new ApiError(
        response.status,
        error.code ?? "unknown",
        error.message ?? `HTTP ${response.status}`,
        error.details ?? {},
      );
    }
    return payload;
  }

  _adopt(grant) {
    this.session = {
      user: grant.user,
      access_token: grant.access_token,
      refresh_token: grant.refresh_token,
      expires_at: Date.now() + grant.expires_in * 1000,
    };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.session));
    this._scheduleRefresh();
    this.dispatchEvent(new CustomEvent("token"));
  }

  _scheduleRefresh() {
    clearTimeout(this._timer);
    const wait = Math.max(this.session.expires_at - Date.now() - REFRESH_MARGIN_MS, 1000);
    // A failed refresh is retried by the next call that needs a token.
    this._timer = setTimeout(() => this.refresh().catch(() => {}), wait);
  }

  _forget() {
    clearTimeout(this._timer);
    this.session = null;
    sessionStorage.removeItem(STORAGE_KEY);
    this.dispatchEvent(new CustomEvent("signedout"));
  }
}
