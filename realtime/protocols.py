"""uvicorn's HTTP and WebSocket protocols, with two guards that uvicorn does not have.

- A request whose headers are not complete within `header_timeout` seconds is
  closed: uvicorn's only timer is the keep-alive one, so a client that sends its
  headers a byte a second (slowloris) held a connection, and a file descriptor,
  for ever.
- A WebSocket frame over the size limit is answered with close 1009 and then the
  rest of what the client is sending is read and dropped until it closes (or a
  short linger passes). uvicorn closed at once, and closing a TCP socket with
  unread bytes makes the kernel send a reset, so the client saw 1006, not 1009.

The WebSocket one also hands the app a way around the ASGI send path (see
`TandemWebSocketProtocol.write_framed`): a room's broadcast is framed once and its
bytes written straight to each socket's transport. And it lets the app take an
authenticated socket over from its ASGI task (`detach`): the task, with its chain
of middleware coroutines, scope and request objects, ends, and the socket stays
open with no task at all while it is idle. That, `__slots__` and events made only
when waited for are what an idle socket's memory comes down to (bench/READING.md).

Both subclass uvicorn's own classes (pinned in constraints.txt) and are chosen by
`uvicorn.Config(http=..., ws=...)`, which accepts protocol factories.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, cast

from uvicorn._types import ASGIReceiveEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

from realtime.socket_events import Gate, Inbox

log = logging.getLogger(__name__)

# How long a socket closed for an oversized frame keeps draining the client's bytes:
# as long as uvicorn waits for any close reply. Two seconds were too short for 25
# clients writing megabytes at once on a loaded machine (a reset for the slowest).
CLOSE_LINGER_SECONDS = 10.0
# The ASGI scope extension under which the app finds the socket's protocol.
WIRE_EXTENSION = "tandem.wire"


class GuardedHttpProtocol(HttpToolsProtocol):
    """HTTP/1.1 with a deadline for each request's headers."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_headers()  # a connection that sends nothing at all is cut too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The first byte of a request starts its clock, unless the connection's
        # clock already runs: a trickle of bytes must not keep resetting it.
        if self._header_deadline is None:
            self._expect_headers()

    def on_headers_complete(self) -> None:
        self._cancel_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _expect_headers(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        log.info("closed a connection whose request headers took over %ss", self.header_timeout)
        self.transport.close()


def http_protocol(header_timeout: float) -> Callable[..., GuardedHttpProtocol]:
    """uvicorn's `http` setting for this header timeout: a partial rather than a
    subclass made on the fly, because `--workers` pickles the config for each
    worker process, and a class made at run time cannot be pickled."""
    return functools.partial(GuardedHttpProtocol, header_timeout=header_timeout)


def framed(payload: bytes, binary: bool) -> bytes:
    """One server-to-client WebSocket frame (unmasked, unfragmented, uncompressed)."""
    return Frame(Opcode.BINARY if binary else Opcode.TEXT, payload).serialize(mask=False)


class TandemWebSocketProtocol(WebSocketsSansIOProtocol):
    """websockets' sans-I/O protocol that lets the client read a protocol-error close,
    lets the app write pre-framed messages while the socket keeps up, and lets the
    app take the socket over from its ASGI task."""

    # Every attribute uvicorn's class and this one set: with a slot each, no
    # instance gets a __dict__ (uvicorn's 37 attributes made a 1.6 KB one).
    __slots__ = (
        "_draining",
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "transport",
        "writable",
    )
    queue: Inbox  # type: ignore[assignment]
    writable: Gate  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()
        self.writable = Gate()
        self._draining = False

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The app's task was created above but has not run yet: it sees the extension.
        if self.response.status_code == 101:
            extensions = cast(dict[str, Any], self.scope["extensions"])
            extensions[WIRE_EXTENSION] = self
        # The scope has its own copy of the headers. websockets' parser keeps the
        # request for the connection's life (a local of its generator): empty it.
        event.headers.clear()
        self.request = None  # type: ignore[assignment]

    def detach(self, on_event: Callable[[], None]) -> None:
        """The app's task is about to return and leave the socket open.

        From now on every event (a message, the disconnect) calls `on_event`, and
        the app takes them with `next_event`. The handshake's scope and response are
        let go once the task has returned.
        """
        self.queue.on_event = on_event
        if not self.queue.empty():
            on_event()

    def next_event(self) -> ASGIReceiveEvent | None:
        """The next event of a detached socket, or None when there is none yet.

        As uvicorn's `receive`: reading was paused when a message arrived and
        resumes once the app has taken the last one, so a client that sends faster
        than it is served is held back by TCP, not buffered here.
        """
        event = self.queue.get_nowait()
        if event is not None and self.read_paused and self.queue.empty():
            self.read_paused = False
            self.transport.resume_reading()
        return event

    def track(self, task: asyncio.Task[Any]) -> None:
        """A task working for this socket: uvicorn's shutdown waits for it as for the app's."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run_asgi(self) -> None:
        """uvicorn's, except that a detached socket is not closed when the app returns."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
            elif self.queue.on_event is not None:
                # Detached: nothing reads the handshake's objects again.
                self.scope = self.response = None  # type: ignore[assignment]
                self.client = self.server = None
                return
        if self.close_timer is None:
            self.transport.close()

    def write_framed(self, data: bytes) -> bool:
        """Write one frame made by `framed` now; False if the socket is behind.

        Behind means the transport's buffer is over its high-water mark (asyncio
        paused writing; uvicorn's own sends wait for the same event). A socket that
        is closing or gone takes the frame and drops it: the app learns of the
        close from its receive side. Per-message compression is off in
        `uvicorn_config`, which is what makes one framing right for every socket.
        """
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            return True
        if not self.writable.is_set():
            return False
        self.transport.write(data)
        return True

    async def wait_writable(self) -> None:
        """Until the transport's buffer is under its low-water mark, or the socket is gone."""
        await self.writable.wait()

    def close_now(self, code: int, reason: str) -> None:
        """Queue the close frame behind what is buffered, without waiting for it to drain.

        uvicorn's `websocket.close` waits until the buffer is under its high-water
        mark, so a socket closed for being too slow never got its close frame and
        saw 1006; one small frame over the limit keeps the buffer bounded. As
        uvicorn does, the app is told of the close, and the connection ends when
        the client answers or after `close_timeout`.
        """
        if self.disconnected or self.close_sent or self.transport.is_closing():
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:  # the client's close reply must be read
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    def handle_parser_exception(self) -> None:
        """A frame over the size limit (1009) or otherwise broken: close the
        WebSocket, and finish the TCP connection only once the client has
        stopped sending (or the linger has passed)."""
        assert self.conn.close_sent is not None
        self.queue.put_nowait(
            {
                "type": "websocket.disconnect",
                "code": self.conn.close_sent.code,
                "reason": self.conn.close_sent.reason,
            }
        )
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self._draining = True
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the client reads our close, then end of stream
        # uvicorn's close timer, so that the app returning meanwhile does not cut
        # the connection (and reset the client) before the linger is over.
        self.close_timer = self.loop.call_later(CLOSE_LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # the rest of the oversized frame, and the client's close reply
        super().data_received(data)

    def eof_received(self) -> None:
        if self._draining:
            self.transport.close()
            return
        super().eof_received()
