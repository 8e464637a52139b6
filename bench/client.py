"""The load generator's WebSocket client: one `Socket` per connection, thousands per process.

Built on the `websockets` library's sans-I/O protocol (handshake, framing, masking,
answering pings, the closing handshake) driven straight from an asyncio Protocol:
each frame is parsed and handed to the workload in `data_received`, with no task,
queue or future per frame. The generator shares a 2-core machine with the servers,
so its cost per frame is the server's loss; the library's asyncio client spent about
a third more CPU per received frame here (25 against 19 microseconds).

Sockets authenticate with the `Authorization` header and a token shared by many
connections, never with a fresh login: password hashing must not be what the
benchmark measures. Compression is not offered: permessage-deflate compresses each
frame once per socket, and the benchmark measures the server's own fan-out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import msgspec
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

JSON_PROTOCOL = Subprotocol("tandem.v1.json")
# Connects in flight at once: enough to fill a server, few enough not to time out.
CONNECT_CONCURRENCY = 64
OPEN_TIMEOUT = 60.0
CLOSE_TIMEOUT = 5.0

Message = dict[str, Any]
# Called with each frame after `ready` (`joined` included) and when it was read.
Handler = Callable[[Message, float], None]

_decode = msgspec.json.decode
_encode = msgspec.json.encode


def ignore(_message: Message, _at: float) -> None:
    """The handler of sockets that only need to stay connected."""


class Socket(asyncio.Protocol):
    def __init__(self, url: str, token: str, on_message: Handler) -> None:
        self.on_message = on_message
        self.errors: list[Message] = []
        self.close_code: int | None = None
        self._token = token
        self._ws = ClientProtocol(parse_uri(url), subprotocols=[JSON_PROTOCOL])
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[None] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._joins: dict[int, asyncio.Future[Message]] = {}
        self._fragments: list[bytes] = []

    @classmethod
    async def open(cls, url: str, token: str, on_message: Handler = ignore) -> Socket:
        """Connect and authenticate; returns after the server's `ready`."""
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None, url
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(OPEN_TIMEOUT):
            _transport, socket = await loop.create_connection(
                lambda: cls(url, token, on_message), parts.hostname, parts.port
            )
            await socket._ready
        return socket

    async def join(self, event_id: int) -> Message:
        """Join a room; answers the `joined` frame."""
        future = self._joins[event_id] = self._loop.create_future()
        await self.send({"type": "join", "event_id": event_id})
        return await asyncio.wait_for(future, OPEN_TIMEOUT)

    async def send(self, message: Message) -> None:
        if self._ws.state is not State.OPEN:
            raise ConnectionError(f"socket closed ({self.close_code})")
        self._ws.send_text(_encode(message))
        self._flush()

    async def close(self) -> None:
        if self._ws.state is State.OPEN:
            self._ws.send_close(1000)
            self._flush()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await asyncio.shield(self._lost)
        except TimeoutError:
            if self._transport is not None:
                self._transport.abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        request = self._ws.connect()
        request.headers["Authorization"] = f"Bearer {self._token}"
        self._ws.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._ws.receive_data(data)
        for event in self._ws.events_received():
            if isinstance(event, Frame):
                self._on_frame(event)
            elif isinstance(event, Response) and event.status_code != 101:
                self._fail(ConnectionError(f"upgrade refused: {event.status_code}"))
        self._flush()  # pongs, the close handshake

    def connection_lost(self, exc: Exception | None) -> None:
        self._ws.receive_eof()
        self.close_code = self._ws.close_code
        self._fail(ConnectionError(f"closed ({self.close_code})"))
        if not self._lost.done():
            self._lost.set_result(None)

    # Inside

    def _on_frame(self, frame: Frame) -> None:
        if frame.opcode not in (Opcode.TEXT, Opcode.CONT):
            return  # pings are answered by the protocol; a close ends in connection_lost
        if not frame.fin:
            self._fragments.append(bytes(frame.data))
            return
        data = b"".join([*self._fragments, frame.data]) if self._fragments else frame.data
        self._fragments.clear()
        at = time.monotonic()  # the clock the writers stamp their ops with
        message = _decode(data)
        kind = message["type"]
        if kind == "ready":
            if not self._ready.done():
                self._ready.set_result(None)
            return
        if kind == "joined":
            future = self._joins.pop(message["event_id"], None)
            if future is not None and not future.done():
                future.set_result(message)
        elif kind == "error":
            self.errors.append(message)
            future = self._joins.pop(message.get("event_id"), None)
            if future is not None and not future.done():
                future.set_exception(RuntimeError(f"join refused: {message}"))
            if not self._ready.done():
                self._ready.set_exception(RuntimeError(f"not authenticated: {message}"))
        self.on_message(message, at)

    def _flush(self) -> None:
        assert self._transport is not None
        for data in self._ws.data_to_send():
            if data:
                self._transport.write(data)
            elif self._transport.can_write_eof():
                self._transport.write_eof()
        if self._ws.close_expected():
            # The closing handshake is done on our side; the server ends the TCP connection.
            self._loop.call_later(CLOSE_TIMEOUT, self._transport.close)

    def _fail(self, exc: Exception) -> None:
        futures: list[asyncio.Future[Any]] = [self._ready, *self._joins.values()]
        for future in futures:
            if not future.done():
                future.set_exception(exc)
        self._joins.clear()


async def open_many(
    plan: Sequence[tuple[str, str, int, Handler]],
    progress: Callable[[int], None] | None = None,
) -> list[tuple[Socket, Message]]:
    """Open and join one socket per (url, token, event_id, handler), a bounded number at once.

    Answers each socket with its `joined` frame, in the order of `plan`.
    """
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    done = 0

    async def one(url: str, token: str, event_id: int, handler: Handler) -> tuple[Socket, Message]:
        nonlocal done
        async with gate:
            socket = await Socket.open(url, token, handler)
            joined = await socket.join(event_id)
        done += 1
        if progress is not None:
            progress(done)
        return socket, joined

    tasks = [asyncio.ensure_future(one(*entry)) for entry in plan]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        opened = [
            t.result()[0] for t in tasks if t.done() and not t.cancelled() and not t.exception()
        ]
        await close_all(opened)
        raise


async def close_all(sockets: Sequence[Socket]) -> None:
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
