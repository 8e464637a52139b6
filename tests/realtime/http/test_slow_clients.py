"""Clients that trickle their request headers (slowloris) are cut off after
HTTP_HEADER_TIMEOUT, so they cannot hold the server's connections for ever."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from realtime.settings import Settings
from tests.support import RunningServer, server_settings, start_server

pytestmark = pytest.mark.timeout(60)

HEADER_TIMEOUT = 0.5
SLOW_CLIENTS = 20


@pytest.fixture
async def impatient_server(database_url: str) -> RunningServer:
    settings: Settings = server_settings(
        database_url=database_url, http_header_timeout=HEADER_TIMEOUT
    )
    running = await start_server(settings)
    yield running  # type: ignore[misc]
    await running.stop()


async def trickle(url: str, first_bytes: bytes) -> float:
    """Send `first_bytes`, then one header byte every 0.1 s until the server hangs
    up; how long the connection lived (seconds)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.monotonic()
    try:
        writer.write(first_bytes)
        for byte in b"X-Slow: " + b"a" * 200:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1024), 0.1) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                continue
        raise AssertionError("the server kept a trickling client for 20 s")
    except ConnectionResetError:
        return time.monotonic() - started
    finally:
        writer.close()


async def test_trickled_headers_are_cut_off(impatient_server: RunningServer) -> None:
    """20 clients sending their headers a byte at a time are all disconnected, and
    the server still answers a normal request meanwhile."""
    lived = await asyncio.gather(
        *(trickle(impatient_server.url, b"GET /health HTTP/1.1\r\n") for _ in range(SLOW_CLIENTS))
    )
    assert len(lived) == SLOW_CLIENTS
    async with httpx.AsyncClient(base_url=impatient_server.url) as http:
        assert (await http.get("/health")).status_code == 200


async def test_a_silent_connection_is_cut_off(impatient_server: RunningServer) -> None:
    """A connection that never sends a byte is closed too."""
    host, port = impatient_server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        assert await asyncio.wait_for(reader.read(1024), 20) == b""
    finally:
        writer.close()


async def test_a_kept_alive_connection_serves_several_requests(
    impatient_server: RunningServer,
) -> None:
    """The header clock is per request: a connection reused after the timeout has
    passed still serves the next request."""
    async with httpx.AsyncClient(base_url=impatient_server.url) as http:
        for _ in range(3):
            assert (await http.get("/health")).status_code == 200
            await asyncio.sleep(HEADER_TIMEOUT / 2)
