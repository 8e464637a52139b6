"""One client's WebSocket: frames written straight to its transport while it keeps up,
a bounded queue only while it is behind.

Nothing that sends to a socket ever awaits the network. A frame for a socket whose
transport buffer is under its high-water mark (and that has nothing queued) is
written at once: its bytes were framed once for every socket of the room. A socket
that is behind gets its frames queued, in order, and one short-lived writer task
sends them as the buffer drains; a socket that lets the queue fill up, or does not
drain within SEND_TIMEOUT, is closed (it reconnects and rejoins with `since`)
instead of growing memory or stalling a room. A frame costs no task wake-up.

Once authenticated, the socket is taken over from its ASGI task (`attach`): what
the client sends is handed, one message at a time and in order, to the socket's
handler by a reader task that exists only while messages wait. An idle socket has
no task at all; its token's expiry is a timer.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

from auth.service import Principal
from realtime.ops import metrics
from realtime.protocols import TandemWebSocketProtocol
from realtime.ws.messages import Frame, error_message
from storage.errors import ErrorCode, TandemError

log = logging.getLogger(__name__)

# Frames a socket may have waiting; a room at 50 edits/s fills this in 10 s.
SEND_QUEUE_LIMIT = 512
# A socket whose transport buffer does not drain for this long stopped reading.
SEND_TIMEOUT = 10.0

CLOSE_MALFORMED = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_RATE_LIMITED = 4429
CLOSE_GOING_AWAY = 1001
# RFC 6455 "try again later": the socket fell too far behind (reconnect and rejoin
# with `since`), or a backing service is down while it authenticates.
CLOSE_TRY_AGAIN_LATER = 1013


class Connection:
    """An accepted socket; `principal` is set once it has authenticated."""

    # Thousands of these live per process: no __dict__ each.
    __slots__ = (
        "_context",
        "_expiry",
        "_malformed",
        "_on_end",
        "_on_message",
        "_principal",
        "_queue",
        "_reader",
        "_removals",
        "_wire",
        "_writer",
        "binary",
        "closed",
        "pending_ops",
        "rooms",
        "socket_id",
    )

    def __init__(self, wire: TandemWebSocketProtocol, binary: bool) -> None:
        self._principal: Principal | None = None
        self.binary = binary
        # The wire's `session` of this socket (in `ready` and presence members);
        # unrelated to the login session.
        self.socket_id = f"s-{secrets.token_urlsafe(9)}"
        self.rooms: set[int] = set()
        # op_ids sent on this socket and not acknowledged yet, by event: the room
        # answers `ack` instead of `patch` for these, in version order.
        self.pending_ops: dict[int, set[str]] = {}
        self._wire = wire
        # While behind: frames to send, then possibly a (code, reason) close. Made
        # when the socket first falls behind, dropped once it has caught up.
        self._queue: deque[Frame | tuple[int, str]] | None = None
        self._writer: asyncio.Task[None] | None = None  # runs while the queue is not empty
        self._malformed: deque[float] | None = None  # made on the first malformed frame
        # The last `removed` notice told per event, made on the first one.
        self._removals: dict[int, str] | None = None
        self.closed = False
        # Set by `attach`: the handler of each message, and of the end.
        self._on_message: Callable[[str | bytes], Awaitable[None]] | None = None
        self._on_end: Callable[[], Awaitable[None]] | None = None
        self._context: contextvars.Context | None = None
        self._reader: asyncio.Task[None] | None = None  # runs while messages wait
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            raise RuntimeError("this socket has not authenticated yet")
        return self._principal

    @principal.setter
    def principal(self, principal: Principal) -> None:
        self._principal = principal
        if self._on_message is not None:
            self._expire_at(principal)

    @property
    def user_id(self) -> int:
        return self.principal.user.id

    @property
    def login_session(self) -> str:
        return self.principal.session_id

    def member(self, state: Any) -> dict[str, Any]:
        return {
            "session": self.socket_id,
            "user_id": self.principal.user.id,
            "username": self.principal.user.username,
            "state": state,
        }

    def send(self, frame: Frame) -> None:
        """Write a frame now, or queue it behind the others; a full queue closes the socket."""
        if self.closed:
            return
        # Nothing queued means nothing sent out of order by writing this one now.
        if not self._queue and self._wire.write_framed(frame.framed(self.binary)):
            return
        if self._queue is None:
            self._queue = deque()
        elif len(self._queue) >= SEND_QUEUE_LIMIT:
            log.warning("socket %s fell too far behind; closing it", self.socket_id)
            self.close(CLOSE_TRY_AGAIN_LATER, "too far behind; rejoin with since")
            return
        self._queue.append(frame)
        self._start_writer()

    def send_removed(self, event_id: int, reason: str, notice: str | None) -> None:
        """Tell the socket it lost `event_id`, once per notice.

        A removal reaches a process on the event's channel (for the room) and on the
        user's (for sockets not in it). The room takes the socket out when it tells
        it, so a socket can be in the room when one copy is checked and out of it when
        the other is: the notice id, not room membership, decides what was told.
        """
        if notice is not None:
            if self._removals is None:
                self._removals = {}
            if self._removals.get(event_id) == notice:
                return
            self._removals[event_id] = notice
        self.send(Frame({"type": "removed", "event_id": event_id, "reason": reason}))

    def send_error(
        self,
        error: TandemError,
        *,
        close: int | None = None,
        reason: str | None = None,
        event_id: int | None = None,
        op_id: str | None = None,
    ) -> None:
        """Answer `error` (counted in the error metric), then close with `close` when given.

        The frame names the message's event_id and op_id, the current `version` of a
        version_conflict, and the details (as in REST: which fields are invalid).
        """
        metrics.ERRORS.labels(error.code, "ws").inc()
        message = error_message(
            error,
            event_id=event_id,
            op_id=op_id,
            version=error.details.get("version"),
            details=error.details or None,
        )
        self.send(Frame(message))
        if close is not None:
            self.close(close, reason or error.code)

    def close(self, code: int, reason: str = "") -> None:
        """Close after the frames already queued (an error before a 4401, say) are sent."""
        if self.closed:
            return
        self.closed = True
        self._cancel_expiry()
        if self._queue is not None and len(self._queue) >= SEND_QUEUE_LIMIT:
            # A full backlog would delay the close: drop it, the client rejoins anyway.
            self._queue.clear()
        if self._queue:
            self._queue.append((code, reason))
        else:
            self._wire.close_now(code, reason)

    def count_malformed(self, limit: int, window: float) -> bool:
        """Record a malformed frame; True when there were more than `limit` within `window` s."""
        now = time.monotonic()
        if self._malformed is None:
            self._malformed = deque()
        self._malformed.append(now)
        while self._malformed and self._malformed[0] < now - window:
            self._malformed.popleft()
        return len(self._malformed) > limit

    async def finish(self) -> None:
        """Wait for what is queued to be sent (bounded), then stop the writer."""
        if self._writer is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), SEND_TIMEOUT)
        except TimeoutError:
            self._writer.cancel()
        except asyncio.CancelledError:
            self._writer.cancel()
            raise

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name=f"ws-writer-{self.socket_id}")

    async def _drain(self) -> None:
        queue = self._queue
        assert queue is not None
        try:
            while queue:
                if isinstance(closing := queue[0], tuple):
                    queue.clear()
                    self._wire.close_now(*closing)
                    return
                async with asyncio.timeout(SEND_TIMEOUT):
                    await self._wire.wait_writable()
                while queue and not isinstance(frame := queue[0], tuple):
                    if not self._wire.write_framed(frame.framed(self.binary)):
                        break  # behind again: wait for the buffer to drain
                    queue.popleft()
        except TimeoutError:
            # The peer stopped reading; the reader side sees the close and cleans up.
            log.info("socket %s: send timed out", self.socket_id)
            self.closed = True
            self._cancel_expiry()
            queue.clear()
            self._wire.close_now(CLOSE_TRY_AGAIN_LATER, "send timed out")
        finally:
            self._writer = None
            if not queue:
                self._queue = None  # caught up: an idle socket keeps no deque

    def attach(
        self,
        on_message: Callable[[str | bytes], Awaitable[None]],
        on_end: Callable[[], Awaitable[None]],
    ) -> None:
        """Take the socket over from the ASGI task, which may then return.

        Each message the client sends is awaited in `on_message`, strictly one at a
        time and in order; `on_end` is awaited once, after the last, when the socket
        has closed. The reader task that runs them carries the context of the caller
        (its request id and client address, which logs and the audit trail read).
        """
        self._on_message, self._on_end = on_message, on_end
        self._context = contextvars.copy_context()
        self._expire_at(self.principal)
        self._wire.detach(self._wake)

    def _wake(self) -> None:
        if self._reader is None and self._on_end is not None:
            self._reader = asyncio.get_running_loop().create_task(
                self._read(), name=f"ws-reader-{self.socket_id}", context=self._context
            )
            self._wire.track(self._reader)

    async def _read(self) -> None:
        assert self._on_message is not None
        try:
            while (event := self._wire.next_event()) is not None:
                if event["type"] == "websocket.disconnect":
                    await self._end()
                    return
                if self.closed:
                    continue  # closing: the client's last words are not answered
                message = cast("str | bytes | None", event.get("text"))
                if message is None:
                    message = cast("bytes | None", event.get("bytes"))
                if message is None:
                    continue
                try:
                    await self._on_message(message)
                except Exception:
                    log.exception("socket %s: a message failed", self.socket_id)
                    self.close(1011, "internal error")
        finally:
            self._reader = None

    async def _end(self) -> None:
        on_end, self._on_end = self._on_end, None
        self._cancel_expiry()
        if on_end is not None:
            await on_end()

    def _expire_at(self, principal: Principal) -> None:
        """Close the socket when its token expires, unless a fresh one comes first."""
        self._cancel_expiry()
        remaining = (principal.token_expires_at - datetime.now(UTC)).total_seconds()
        self._expiry = asyncio.get_running_loop().call_later(max(remaining, 0.0), self._expired)

    def _cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _expired(self) -> None:
        self._expiry = None
        expired = TandemError(ErrorCode.TOKEN_EXPIRED, "the access token expired; send a fresh one")
        self.send_error(expired, close=CLOSE_UNAUTHENTICATED)
