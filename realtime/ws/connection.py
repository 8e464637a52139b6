"""One client's WebSocket: a bounded send queue drained by its own writer task.

Nothing that sends to a socket ever awaits the network: rooms and handlers put
frames in the queue, and a slow client that lets it fill up is closed (it
reconnects and rejoins with `since`) instead of growing memory or stalling a room.

The queue is a plain deque plus one wake-up future rather than an asyncio.Queue:
a fan-out of one version to a thousand sockets queues a thousand frames, and an
idle socket should cost as little memory as possible (an asyncio.Queue holds four
deques of about 0.5 KiB each, even when empty).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from auth.service import Principal
from realtime.ops import metrics
from realtime.ws.messages import Frame, error_message
from storage.errors import TandemError

log = logging.getLogger(__name__)

# Frames a socket may have waiting; a room at 50 edits/s fills this in 10 s.
SEND_QUEUE_LIMIT = 512
# A send that takes longer than this means the client stopped reading.
SEND_TIMEOUT = 10.0
# The send deadline is pushed back at most once per this many seconds instead of
# re-arming a timer per frame: each frame then gets SEND_TIMEOUT to SEND_TIMEOUT + this.
SEND_DEADLINE_SLACK = 1.0

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

    def __init__(self, websocket: WebSocket, binary: bool) -> None:
        self.websocket = websocket
        self._principal: Principal | None = None
        self.binary = binary
        # The wire's `session` of this socket (in `ready` and presence members);
        # unrelated to the login session.
        self.socket_id = f"s-{secrets.token_urlsafe(9)}"
        self.rooms: set[int] = set()
        # op_ids sent on this socket and not acknowledged yet, by event: the room
        # answers `ack` instead of `patch` for these, in version order.
        self.pending_ops: dict[int, set[str]] = {}
        # Frames to send, then possibly a (code, reason) close that ends the writer.
        self._queue: deque[Frame | tuple[int, str]] = deque()
        self._wakeup: asyncio.Future[None] | None = None  # set while the writer waits
        self._writer: asyncio.Task[None] | None = None
        self._malformed: deque[float] | None = None  # made on the first malformed frame
        # The last `removed` notice told per event, made on the first one.
        self._removals: dict[int, str] | None = None
        self.closed = asyncio.Event()

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            raise RuntimeError("this socket has not authenticated yet")
        return self._principal

    @principal.setter
    def principal(self, principal: Principal) -> None:
        self._principal = principal

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

    def start(self) -> None:
        self._writer = asyncio.create_task(self._drain(), name=f"ws-writer-{self.socket_id}")

    def send(self, frame: Frame) -> None:
        """Queue a frame; a socket whose queue is full is closed instead of waiting."""
        if self.closed.is_set():
            return
        if len(self._queue) >= SEND_QUEUE_LIMIT:
            log.warning("socket %s fell too far behind; closing it", self.socket_id)
            self.close(CLOSE_TRY_AGAIN_LATER, "too far behind; rejoin with since")
            return
        self._queue.append(frame)
        self._wake()

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
        if self.closed.is_set():
            return
        self.closed.set()
        if len(self._queue) >= SEND_QUEUE_LIMIT:
            # A full backlog would delay the close: drop it, the client rejoins anyway.
            self._queue.clear()
        self._queue.append((code, reason))
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

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
        """Wait for the writer to send what is queued (bounded), then stop it."""
        if self._writer is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), SEND_TIMEOUT)
        except TimeoutError:
            self._writer.cancel()
        except asyncio.CancelledError:
            self._writer.cancel()
            raise

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not self._queue:
                    self._wakeup = loop.create_future()
                    await self._wakeup
                self._wakeup = None
                closing = await self._send_queued(loop)
                if closing is not None:
                    await self._close_socket(*closing)
                    return
        except (TimeoutError, OSError, RuntimeError, WebSocketDisconnect) as exc:
            # The peer is gone or stopped reading; the reader side notices and cleans up.
            log.info("socket %s: send failed (%s)", self.socket_id, exc.__class__.__name__)
            self.closed.set()
            await self._close_socket(CLOSE_TRY_AGAIN_LATER, "send failed")

    async def _send_queued(self, loop: asyncio.AbstractEventLoop) -> tuple[int, str] | None:
        """Send what is queued, each frame within SEND_TIMEOUT; answers a close met on the way.

        One timeout for the whole backlog, pushed back as frames go out: wait_for
        per frame would make a Task for every frame on Python 3.11.
        """
        async with asyncio.timeout_at(loop.time() + SEND_TIMEOUT + SEND_DEADLINE_SLACK) as deadline:
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, tuple):
                    return item
                now = loop.time()
                if (deadline.when() or 0.0) < now + SEND_TIMEOUT:
                    deadline.reschedule(now + SEND_TIMEOUT + SEND_DEADLINE_SLACK)
                data = item.encoded(self.binary)
                if isinstance(data, bytes):
                    await self.websocket.send_bytes(data)
                else:
                    await self.websocket.send_text(data)
        return None

    async def _close_socket(self, code: int, reason: str) -> None:
        if self.websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(TimeoutError, OSError, RuntimeError, WebSocketDisconnect):
                await asyncio.wait_for(self.websocket.close(code, reason), SEND_TIMEOUT)
