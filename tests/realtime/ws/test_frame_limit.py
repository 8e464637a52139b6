"""A frame over the size limit: the client reads the 1009 close, never a TCP reset.

The client here is the simplest kind: it writes its whole frame before it reads
anything. A server that closes with the rest of the frame unread makes the kernel
reset the connection, and such a client loses the close frame with it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import RunningServer, register
from tests.ws_client import Sockets

pytestmark = pytest.mark.timeout(60)

CLIENTS = 25
FRAME_BYTES = 2 * 1024 * 1024


def _handshake(host: str, port: int, token: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /api/v1/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: tandem.v1.json\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


def _masked_text_frame(size: int) -> bytes:
    # FIN + text, mask bit + 64-bit length, an all-zero mask (so the payload is as is).
    return b"\x81\xff" + struct.pack("!Q", size) + b"\0\0\0\0" + b"x" * size


def _close_code(received: bytes) -> int | None:
    """The code of the first close frame in what the server sent after the upgrade."""
    data = received.split(b"\r\n\r\n", 1)[1]
    while len(data) >= 2:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        start = 2
        if length == 126:
            length, start = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            length, start = struct.unpack("!Q", data[2:10])[0], 10
        if opcode == 0x8:
            return int(struct.unpack("!H", data[start : start + 2])[0])
        data = data[start + length :]
    return None


def blocking_oversized_sender(url: str, token: str) -> int | str:
    """Upgrade, write one frame over the limit in full, then read to the end: the
    close code seen, or how the connection failed."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(_handshake(parts.hostname, parts.port, token))
        received = b""
        while b'"ready"' not in received:  # frames may only follow the upgrade
            received += sock.recv(65536)
        try:
            sock.sendall(_masked_text_frame(FRAME_BYTES))
            while chunk := sock.recv(65536):
                received += chunk
        except (ConnectionResetError, BrokenPipeError) as exc:
            return type(exc).__name__
    return _close_code(received) or "no close frame"


async def test_every_oversized_sender_reads_1009(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """25 clients at once each write a 2 MiB frame before reading: each reads close
    code 1009 (the server drains the rest of the frame before it hangs up)."""
    alice = await register(client)
    outcomes = await asyncio.gather(
        *(
            asyncio.to_thread(blocking_oversized_sender, server.url, alice.access_token)
            for _ in range(CLIENTS)
        )
    )
    assert outcomes == [1009] * CLIENTS
    # The server is unharmed: a new client still gets its pong.
    after = await sockets.ready(server.ws_url, alice.access_token)
    await after.ping()
