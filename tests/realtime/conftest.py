"""Fixtures for the server tests: WebSocket clients closed when the test ends, shared
events with their sockets, and a private Redis and PostgreSQL for fault tests."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_URL, fresh_postgres_schema, migrated, require_service
from tests.postgres_server import PostgresServer
from tests.processes import base_env, tandem
from tests.realtime.redis_server import RedisServer, require_services
from tests.shared_event import SharedEvents
from tests.support import TEST_SECRET, UNLIMITED, RunningServer
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
def shared_event(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> SharedEvents:
    """Makes events shared with new users, and their sockets (tests/shared_event.py)."""
    return SharedEvents(client, server.ws_url, sockets)


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


@pytest.fixture
async def distributed_env(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """The environment of a distributed deployment on a fresh, migrated schema."""
    await require_service("postgres")
    await require_service("redis")
    async with fresh_postgres_schema() as database_url:
        env = base_env(
            DATABASE_URL=database_url,
            BROADCAST_URL=REDIS_URL,
            BROADCAST_NAMESPACE=f"test-{secrets.token_hex(4)}",
            SECRET_KEY=TEST_SECRET,
            AUTH_RATE_PER_IP=UNLIMITED,
            LOG_LEVEL="info",
        )
        result = tandem("migrate", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        yield env
