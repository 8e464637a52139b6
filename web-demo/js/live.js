// The WebSocket half of the contract: one socket, event rooms joined with
// `since`, reconnection with backoff, and ops that survive a dropped connection.
//
// Events (CustomEvent detail in brackets):
//   status   {state: connecting|live|reconnecting|offline, retryIn}
//   snapshot {eventId, event}                  a whole event (joined without a usable since)
//   version  {eventId, version, ops, authorId, own}   every version, in order, exactly once
//   members  {eventId, members}                the room's members as of joining
//   presence {eventId, joined, left, updated}
//   access   {eventId, role}
//   removed  {eventId, reason}

const PROTOCOL = "tandem.v1.json";
// A connection that died without a close frame is noticed within PING_EVERY + PONG_WAIT.
const PING_EVERY_MS = 15_000;
const PONG_WAIT_MS = 5_000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const CLOSE_UNAUTHENTICATED = 4401;

/** A refused op: `code` is the contract's (forbidden, version_conflict, invalid_event, ...). */
export class LiveError extends Error {
  constructor(code, message, version) {
    super(message);
    this.code = code;
    this.version = version;
  }
}

export class LiveClient extends EventTarget {
  constructor(api) {
    super();
    this.api = api;
    this.state = "connecting";
    this.session = null;
    // event id -> {version, joined, presence}: what to rejoin, and from where.
    this.rooms = new Map();
    // op_id -> {eventId, ops, baseVersion, resolve, reject}: sent or waiting to be.
    this.pending = new Map();
    this._socket = null;
    this._attempt = 0;
    this._timers = {};
    this._opCount = 0;
    this._clientId = Math.random().toString(36).slice(2, 8);
  }

  start() {
    window.addEventListener("online", () => this._connectNow());
    window.addEventListener("offline", () => this._drop("offline"));
    // A refreshed token is swapped into the open socket before the old one expires.
    this.api.addEventListener("token", () => this._sendAuth());
    this._connect();
  }

  join(eventId, since) {
    if (this.rooms.has(eventId)) return;
    this.rooms.set(eventId, { version: since, joined: false, presence: null });
    this._send({ type: "join", event_id: eventId, since });
  }

  leave(eventId) {
    if (!this.rooms.delete(eventId)) return;
    this._send({ type: "leave", event_id: eventId });
  }

  /** Presence state in a room; kept and re-sent after a reconnect. */
  setPresence(eventId, state) {
    const room = this.rooms.get(eventId);
    if (!room) return;
    room.presence = state;
    if (room.joined) this._send({ type: "presence", event_id: eventId, state });
  }

  /** Submit ops; resolves with the ack, rejects with a LiveError when refused. */
  submit(eventId, ops, baseVersion) {
    const opId = `${this._clientId}-${++this._opCount}`;
    return new Promise((resolve, reject) => {
      this.pending.set(opId, { eventId, ops, baseVersion, resolve, reject });
      if (this.rooms.get(eventId)?.joined) this._sendOp(opId);
    });
  }

  _sendOp(opId) {
    const op = this.pending.get(opId);
    this._send({
      type: "patch",
      event_id: op.eventId,
      op_id: opId,
      base_version: op.baseVersion,
      ops: op.ops,
    });
  }

  _setState(state, retryIn) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("status", { detail: { state, retryIn } }));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async _connect() {
    clearTimeout(this._timers.retry);
    if (!navigator.onLine) return this._setState("offline");
    this._setState(this._attempt === 0 ? "connecting" : "reconnecting");
    try {
      await this.api.freshToken();
    } catch (error) {
      if (!this.api.session) return; // signed out; the page goes back to the login screen
      return this._retryLater();
    }
    if (this._socket) return; // an "online" event connected meanwhile
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws`, PROTOCOL);
    this._socket = socket;
    // Browsers cannot set an Authorization header on a WebSocket: authenticate in-band.
    socket.onopen = () => this._sendAuth();
    socket.onmessage = (message) => {
      if (socket === this._socket) this._receive(JSON.parse(message.data));
    };
    socket.onclose = (event) => {
      if (socket === this._socket) this._closed(event.code);
    };
  }

  _connectNow() {
    if (this._socket) return;
    this._attempt = 0;
    this._connect();
  }

  /** Give up on the current socket at once (it may be dead without knowing it). */
  _drop(reason) {
    const socket = this._socket;
    if (!socket) return;
    this._socket = null;
    socket.close(1000, reason);
    this._closed(1006);
  }

  async _closed(code) {
    this._socket = null;
    clearTimeout(this._timers.ping);
    clearTimeout(this._timers.pong);
    for (const room of this.rooms.values()) room.joined = false;
    if (code === CLOSE_UNAUTHENTICATED) {
      // Expired or revoked: a refresh tells which; without a login the page signs out.
      try {
        await this.api.refresh();
      } catch {
        if (!this.api.session) return;
      }
    }
    if (!navigator.onLine) return this._setState("offline");
    this._retryLater();
  }

  _retryLater() {
    // Exponential backoff with jitter, so that a restarted server is not stampeded.
    const base = Math.min(BACKOFF_FIRST_MS * 2 ** this._attempt, BACKOFF_MAX_MS);
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this._attempt += 1;
    this._setState("reconnecting", delay);
    this._timers.retry = setTimeout(() => this._connect(), delay);
  }

  _sendAuth() {
    if (this.api.session) this._send({ type: "auth", token: this.api.session.access_token });
  }

  _send(message) {
    if (this._socket?.readyState === WebSocket.OPEN) this._socket.send(JSON.stringify(message));
  }

  _keepAlive() {
    clearTimeout(this._timers.ping);
    clearTimeout(this._timers.pong);
    this._timers.ping = setTimeout(() => {
      this._send({ type: "ping" });
      this._timers.pong = setTimeout(() => this._drop("no pong"), PONG_WAIT_MS);
    }, PING_EVERY_MS);
  }

  _receive(message) {
    this._keepAlive(); // any frame proves the connection is alive
    const handler = this[`_on_${message.type}`];
    if (handler) handler.call(this, message);
  }

  _on_ready(message) {
    this.session = message.session;
    this._attempt = 0;
    this._setState("live");
    for (const [eventId, room] of this.rooms) {
      this._send({ type: "join", event_id: eventId, since: room.version });
    }
  }

  _on_joined(message) {
    const eventId = message.event_id;
    const room = this.rooms.get(eventId);
    if (!room) return; // left meanwhile
    room.joined = true;
    room.version = message.version;
    const applied = new Map();
    if (message.event) {
      this._emit("snapshot", { eventId, event: message.event });
    } else {
      for (const patch of message.patches) {
        if (patch.op_id) applied.set(patch.op_id, patch.version);
        this._emit("version", {
          eventId,
          version: patch.version,
          ops: patch.ops,
          authorId: patch.author_id,
          own: this.pending.has(patch.op_id),
        });
      }
    }
    this._emit("access", { eventId, role: message.role });
    this._emit("members", { eventId, members: message.members });
    if (room.presence) this._send({ type: "presence", event_id: eventId, state: room.presence });
    // Ops sent before a drop either made it (they are in the catch-up) or are
    // sent again with the same op_id, which the server applies at most once.
    for (const [opId, op] of this.pending) {
      if (op.eventId !== eventId) continue;
      if (applied.has(opId)) {
        this.pending.delete(opId);
        op.resolve({ version: applied.get(opId) });
      } else {
        this._sendOp(opId);
      }
    }
  }

  _on_patch(message) {
    const room = this.rooms.get(message.event_id);
    if (room) room.version = message.version;
    this._emit("version", {
      eventId: message.event_id,
      version: message.version,
      ops: message.ops,
      authorId: message.author_id,
      own: false,
    });
  }

  _on_ack(message) {
    const op = this.pending.get(message.op_id);
    if (!op) return;
    this.pending.delete(message.op_id);
    // A no-op ack carries the event's current version, which may be ahead of
    // the room's stream: it must not move `since`.
    if (!message.noop) {
      const room = this.rooms.get(message.event_id);
      if (room && message.version > (room.version ?? 0)) room.version = message.version;
      this._emit("version", {
        eventId: message.event_id,
        version: message.version,
        ops: op.ops,
        authorId: this.api.user.id,
        own: true,
      });
    }
    op.resolve({ version: message.version, noop: Boolean(message.noop) });
  }

  _on_presence(message) {
    this._emit("presence", {
      eventId: message.event_id,
      joined: message.joined ?? [],
      left: message.left ?? [],
      updated: message.updated ?? [],
    });
  }

  _on_access(message) {
    this._emit("access", { eventId: message.event_id, role: message.role });
  }

  _on_removed(message) {
    this._forgetRoom(message.event_id, message.reason);
  }

  _on_error(message) {
    const op = message.op_id && this.pending.get(message.op_id);
    if (op) {
      this.pending.delete(message.op_id);
      op.reject(new LiveError(message.code, message.message, message.version));
    } else if (message.code === "not_found" && this.rooms.has(message.event_id)) {
      // A join for an event this user lost while disconnected.
      this._forgetRoom(message.event_id, "revoked");
    }
  }

  _forgetRoom(eventId, reason) {
    this.rooms.delete(eventId);
    for (const [opId, op] of this.pending) {
      if (op.eventId !== eventId) continue;
      this.pending.delete(opId);
      op.reject(new LiveError("not_found", "this event is no longer shared with you"));
    }
    this._emit("removed", { eventId, reason });
  }
}
