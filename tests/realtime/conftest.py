"""Fixtures for the server tests: WebSocket clients closed when the test ends, and a
private Redis and PostgreSQL for fault tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.conftest import fresh_postgres_schema, migrated
from tests.postgres_server import PostgresServer
from tests.realtime.redis_server import RedisServer, require_services
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


@pytest.fixture
def throwaway_redis() -> Iterator[RedisServer]:
    """A private redis-server that the test may stop and start."""
    try:
        redis = RedisServer()
    except RuntimeError as exc:
        if require_services():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    redis.start()
    try:
        yield redis
    finally:
        redis.close()


@pytest.fixture
async def shared_postgres() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL schema for several servers to share."""
    async with fresh_postgres_schema() as url:
        yield url


@pytest.fixture
async def throwaway_postgres() -> AsyncIterator[PostgresServer]:
    """A private, migrated PostgreSQL cluster that the test may stop and restart."""
    try:
        postgres = PostgresServer()
    except RuntimeError as exc:
        if require_services():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        postgres.start()
        await migrated(postgres.url)
        yield postgres
    finally:
        postgres.close()
