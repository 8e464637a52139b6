"""Recurring events and iCalendar (PROTOCOL.md v1.1): one server per module and database.

Starting a server (and migrating its database) costs more than most of these tests;
each test registers its own users, so sharing the server does not couple them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import fresh_postgres_schema, migrated

# The same per-test WebSocket clients as the realtime tests, on this package's server.
from tests.realtime.conftest import sockets  # noqa: F401
from tests.support import TLS, RunningServer, server_settings, start_server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServer]:
    """A server on a fresh SQLite file or PostgreSQL schema, for the whole module."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("db")
        url = await migrated(f"sqlite:///{folder / 'tandem.db'}")
        running = await start_server(server_settings(database_url=url))
        yield running
        await running.stop()
        return
    async with fresh_postgres_schema() as url:
        running = await start_server(server_settings(database_url=url))
        yield running
        await running.stop()


@pytest.fixture(scope="module")
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30, verify=TLS) as http:
        yield http
