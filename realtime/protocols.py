"""uvicorn's HTTP and WebSocket protocols, with two guards that uvicorn does not have.

- A request whose headers are not complete within `header_timeout` seconds is
  closed: uvicorn's only timer is the keep-alive one, so a client that sends its
  headers a byte a second (slowloris) held a connection, and a file descriptor,
  for ever.
- A WebSocket frame over the size limit is answered with close 1009 and then the
  rest of what the client is sending is read and dropped until it closes (or a
  short linger passes). uvicorn closed at once, and closing a TCP socket with
  unread bytes makes the kernel send a reset, so the client saw 1006, not 1009.

Both subclass uvicorn's own classes (pinned in constraints.txt) and are chosen by
`uvicorn.Config(http=..., ws=...)`, which accepts protocol factories.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger(__name__)

# How long a socket closed for an oversized frame keeps draining the client's bytes.
CLOSE_LINGER_SECONDS = 2.0


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


class LingeringWebSocketProtocol(WebSocketsSansIOProtocol):
    """websockets' sans-I/O protocol that lets the client read a protocol-error close."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._draining = False
        self._linger: asyncio.TimerHandle | None = None

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
        self._linger = self.loop.call_later(CLOSE_LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # the rest of the oversized frame, and the client's close reply
        super().data_received(data)

    def eof_received(self) -> None:
        if self._draining:
            self.transport.close()
            return
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        super().connection_lost(exc)
