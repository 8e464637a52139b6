"""Fixtures for the broadcast tests: connected broadcasts on memory:// and a real Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
import redis

from realtime.broadcast import Broadcast, create_broadcast
from tests.realtime.redis_server import require_services

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"REDIS TESTS NOT RUN: no Redis at {REDIS_URL} ({exc}); set REDIS_URL"
        if require_services():
            pytest.fail(reason + " (REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    finally:
        client.close()
    return REDIS_URL


@pytest_asyncio.fixture
async def make_broadcast() -> AsyncIterator[Callable[[str], Awaitable[Broadcast]]]:
    """Connected broadcasts, each one like a separate process; all disconnected after."""
    made: list[Broadcast] = []

    async def make(url: str) -> Broadcast:
        broadcast = create_broadcast(url)
        await broadcast.connect()
        made.append(broadcast)
        return broadcast

    yield make
    for broadcast in made:
        await broadcast.disconnect()


@pytest_asyncio.fixture(params=["memory", "redis"])
async def broadcast(
    request: pytest.FixtureRequest, make_broadcast: Callable[[str], Awaitable[Broadcast]]
) -> Broadcast:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    return await make_broadcast(url)


@pytest.fixture
def channel() -> str:
    # Unique per test: the Redis is shared with other tests.
    return f"test:{uuid.uuid4().hex}"
