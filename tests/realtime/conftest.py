"""Fixtures for the WebSocket tests: clients that are closed when the test ends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import RunningServer
from tests.ws_client import Sockets


@pytest.fixture
async def sockets(server: RunningServer) -> AsyncIterator[Sockets]:
    """A pool of WebSocket clients, all closed before the server stops."""
    pool = Sockets()
    try:
        yield pool
    finally:
        await pool.close_all()
