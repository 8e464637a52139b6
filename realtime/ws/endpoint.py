"""/api/v1/ws: authenticate, then handle one client's messages strictly in order."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from starlette.websockets import WebSocket

from auth.service import Principal
from realtime.http.openapi import Operation, describe
from realtime.ops import metrics
from realtime.protocols import WIRE_EXTENSION
from realtime.services import Resources, resources, user_json
from realtime.ws.connection import (
    CLOSE_AUTH_TIMEOUT,
    CLOSE_MALFORMED,
    CLOSE_RATE_LIMITED,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHENTICATED,
    Connection,
)
from realtime.ws.messages import (
    MAX_PRESENCE_BYTES,
    MSGPACK_PROTOCOL,
    SUBPROTOCOLS,
    Auth,
    ClientMessage,
    Frame,
    Join,
    Leave,
    Patch,
    Ping,
    Presence,
    error_ids,
    parse,
    presence_size,
)
from realtime.ws.op_rate import OpRate
from storage.errors import ErrorCode, TandemError
from storage.patching import is_json_value

AUTH_TIMEOUT = 10.0
MAX_ROOMS = 500
# More malformed frames than this within the window close the socket (4400).
MALFORMED_LIMIT, MALFORMED_WINDOW = 20, 60.0
# A client refused for rate this long without a pause is closed (4429).
RATE_LIMITED_GRACE = 10.0
# A client that sends nothing refused for this long has slowed down.
RATE_LIMIT_PAUSE = 1.0


class SocketHandler:
    """One authenticated socket's message handling (ShareDB's "agent")."""

    __slots__ = ("_last_refusal", "_limited_since", "_max_depth", "_op_rate", "connection", "state")

    def __init__(self, connection: Connection, state: Resources) -> None:
        self.connection = connection
        self.state = state
        self._op_rate = OpRate(state.settings.ws_op_rate)
        self._max_depth = state.settings.max_nesting_depth
        self._limited_since = 0.0
        self._last_refusal: float | None = None

    async def receive(self, frame: str | bytes) -> None:
        """One message from the client (the connection hands them over in order)."""
        try:
            parsed = parse(frame, self.connection.binary, self._max_depth)
        except TandemError as exc:
            flooding = exc.code == ErrorCode.INVALID_MESSAGE and (
                self.connection.count_malformed(MALFORMED_LIMIT, MALFORMED_WINDOW)
            )
            self.connection.send_error(
                exc,
                close=CLOSE_MALFORMED if flooding else None,
                reason="too many malformed messages",
                **error_ids(frame, self.connection.binary),
            )
            return
        await self.handle(parsed)

    async def handle(self, message: ClientMessage) -> None:
        try:
            if isinstance(message, Patch):
                await self._patch(message)
            elif isinstance(message, Join):
                await self._join(message)
            elif isinstance(message, Leave):
                await self.state.rooms.leave(self.connection, message.event_id)
            elif isinstance(message, Presence):
                self._presence(message)
            elif isinstance(message, Ping):
                self.connection.send(Frame({"type": "pong"}))
            elif isinstance(message, Auth):
                await self._reauthenticate(message.token)
        except TandemError as exc:
            self.connection.send_error(
                exc,
                event_id=getattr(message, "event_id", None),
                op_id=getattr(message, "op_id", None),
            )

    async def _join(self, message: Join) -> None:
        rooms = self.connection.rooms
        if message.event_id not in rooms and len(rooms) >= MAX_ROOMS:
            raise TandemError(
                ErrorCode.TOO_LARGE, f"a connection may join at most {MAX_ROOMS} events"
            )
        await self.state.rooms.join(self.connection, message.event_id, message.since)

    def _presence(self, message: Presence) -> None:
        self._require_joined(message.event_id)
        if not isinstance(message.state, dict):
            raise TandemError(ErrorCode.INVALID_MESSAGE, "presence state must be an object")
        # MessagePack can carry what JSON cannot (bytes, non-string keys, NaN): relayed,
        # such a state would reach JSON and MessagePack members as different values.
        if not is_json_value(message.state):
            raise TandemError(ErrorCode.INVALID_MESSAGE, "presence state must hold only JSON")
        if presence_size(message.state) > MAX_PRESENCE_BYTES:
            raise TandemError(
                ErrorCode.TOO_LARGE, f"presence state may be at most {MAX_PRESENCE_BYTES} bytes"
            )
        self.state.rooms.set_presence(self.connection, message.event_id, message.state)

    async def _patch(self, message: Patch) -> None:
        self._check_rate()
        connection, event_id, op_id = self.connection, message.event_id, message.op_id
        # In a joined room the ack travels with the room's stream, so that it is
        # ordered among the others' patches; otherwise it is answered here.
        joined = event_id in connection.rooms
        pending = connection.pending_ops.setdefault(event_id, set()) if joined else set()
        pending.add(op_id)
        try:
            result = await self.state.calendar.patch(
                connection.principal.user,
                event_id,
                message.ops,
                origin="ws",
                base_version=message.base_version,
                op_id=op_id,
            )
        except BaseException:
            pending.discard(op_id)
            raise
        finally:
            if not joined:
                connection.pending_ops.pop(event_id, None)
        ack: dict[str, Any] = {"type": "ack", "event_id": event_id, "op_id": op_id}
        if result.noop:
            pending.discard(op_id)
            noop = Frame({**ack, "version": result.event.version, "noop": True})
            if joined:
                self.state.rooms.acknowledge(connection, event_id, result.event.version, noop)
            else:
                connection.send(noop)
            return
        assert result.version is not None
        version = result.version.version
        delivered = self.state.rooms.delivered_version(connection, event_id) if joined else None
        if delivered is None or (result.duplicate and version <= delivered):
            # Not in the room, or a resent op whose version the room already
            # passed: the room will not acknowledge it, so answer now.
            pending.discard(op_id)
            connection.send(Frame({**ack, "version": version}))

    async def _reauthenticate(self, token: str) -> None:
        try:
            principal = await self.state.auth.authenticate(token)
        except TandemError as exc:
            # The socket keeps its current token when the fresh one cannot be checked.
            unavailable = exc.code == ErrorCode.UNAVAILABLE
            self.connection.send_error(exc, close=None if unavailable else CLOSE_UNAUTHENTICATED)
            return
        if principal.user.id != self.connection.user_id:
            other = TandemError(ErrorCode.UNAUTHENTICATED, "that token belongs to another user")
            self.connection.send_error(other, close=CLOSE_UNAUTHENTICATED)
            return
        old = self.connection.login_session
        self.connection.principal = principal
        if principal.session_id != old:
            self.state.sockets.moved(self.connection, old)

    def _require_joined(self, event_id: int) -> None:
        if event_id not in self.connection.rooms:
            raise TandemError(ErrorCode.INVALID_MESSAGE, f"join event {event_id} first")

    def _check_rate(self) -> None:
        now = asyncio.get_running_loop().time()
        retry_after = self._op_rate.hit(now)
        if retry_after is None:
            return
        # A refusal streak ends once the client pauses; one that goes on past
        # the grace period is closed.
        if self._last_refusal is None or now - self._last_refusal > RATE_LIMIT_PAUSE:
            self._limited_since = now
        self._last_refusal = now
        if now - self._limited_since > RATE_LIMITED_GRACE:
            self.connection.close(CLOSE_RATE_LIMITED, "rate limited for too long")
        raise TandemError(
            ErrorCode.RATE_LIMITED,
            "too many patches; slow down",
            {"retry_after": round(retry_after, 3)},
        )


@describe(
    Operation(
        summary="Live editing WebSocket",
        tag="websocket",
        description=(
            "Upgrade to a WebSocket with subprotocol `tandem.v1.json` or `tandem.v1.msgpack`, "
            "then authenticate with the Authorization header or a first `auth` message. "
            "Errors are `error` messages with the same codes as REST, plus `invalid_message` "
            "and `version_conflict` (a patch on a stale base_version that cannot be rebased). "
            "The messages, rules and close codes are in PROTOCOL.md."
        ),
        responses={101: None},
        auth=False,
    )
)
async def websocket_endpoint(websocket: WebSocket) -> None:
    state = resources(websocket)
    offered = websocket.scope.get("subprotocols") or []
    subprotocol = next((p for p in offered if p in SUBPROTOCOLS), None)
    await websocket.accept(subprotocol=subprotocol)
    wire = websocket.scope["extensions"][WIRE_EXTENSION]
    connection = Connection(wire, binary=subprotocol == MSGPACK_PROTOCOL)
    served = False
    try:
        principal = await _authenticate(websocket, connection, state)
        if principal is None:
            return
        connection.principal = principal
        await state.sockets.add(connection)
        served = True
    finally:
        if not served:
            connection.close(1000)
            await connection.finish()
    user = user_json(connection.principal.user)
    connection.send(Frame({"type": "ready", "user": user, "session": connection.socket_id}))
    metrics.OPEN_SOCKETS.inc()
    # This ASGI task (and its middleware's coroutines) ends here; the socket stays
    # open, served with no task while it is idle.
    connection.attach(
        SocketHandler(connection, state).receive, functools.partial(_end, connection, state)
    )


async def _end(connection: Connection, state: Resources) -> None:
    """The socket closed: out of its rooms and the registry, its last frames sent."""
    metrics.OPEN_SOCKETS.dec()
    state.rooms.leave_all(connection)
    await state.sockets.remove(connection)
    connection.close(1000)
    await connection.finish()


async def _authenticate(
    websocket: WebSocket, connection: Connection, state: Resources
) -> Principal | None:
    """The socket's user, by header or first message; the socket is closed when there is none."""
    header = websocket.headers.get("authorization")
    token: str | None = None
    if header:
        scheme, _, value = header.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
    else:
        try:
            first = await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT)
        except TimeoutError:
            late = TandemError(ErrorCode.UNAUTHENTICATED, "no auth message within 10 s")
            connection.send_error(late, close=CLOSE_AUTH_TIMEOUT)
            return None
        if first["type"] == "websocket.disconnect":
            return None
        frame = first.get("text") if first.get("text") is not None else first.get("bytes")
        try:
            message = parse(frame or "", connection.binary, state.settings.max_nesting_depth)
        except TandemError:
            message = None
        if not isinstance(message, Auth):
            first_not_auth = TandemError(ErrorCode.UNAUTHENTICATED, "authenticate first")
            connection.send_error(first_not_auth, close=CLOSE_UNAUTHENTICATED)
            return None
        token = message.token
    try:
        return await state.auth.authenticate(token or "")
    except TandemError as exc:
        # 4401 tells a client to drop its token and sign in again: never for a
        # database that cannot be asked whether a good token is still good.
        unavailable = exc.code == ErrorCode.UNAVAILABLE
        connection.send_error(
            exc, close=CLOSE_TRY_AGAIN_LATER if unavailable else CLOSE_UNAUTHENTICATED
        )
        return None
