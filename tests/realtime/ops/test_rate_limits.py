"""Rate limits (PROTOCOL.md, Errors: 429 rate_limited with Retry-After): sign-in attempts
per address and per username, REST calls per user, shared by every process through Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from realtime.settings import Settings
from tests.conftest import REDIS_URL, fresh_postgres_schema, require_service
from tests.realtime.redis_server import RedisServer
from tests.support import (
    distributed_settings,
    register,
    server_settings,
    start_pair,
    start_server,
)

# Every limit in these tests is per minute; `limits` aligns its windows to the clock.
WINDOW = 60


async def in_one_window(needed: float = 15) -> None:
    """Leave `needed` seconds before the next minute boundary for a test's counted requests.

    The sliding window counter weighs the previous minute by the part of it still in
    view, so just past a boundary a full count weighs a fraction under its limit and
    one more request gets through: the approximation `limits` documents, harmless in
    service, but it made these exact counts flaky.
    """
    left = WINDOW - time.time() % WINDOW
    if left < needed:
        await asyncio.sleep(left + 0.1)


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A server whose limits are small enough to reach in a test."""
    tight = dataclasses.replace(
        settings,
        auth_rate_per_ip="6/minute",
        auth_rate_per_username="3/minute",
        api_rate_per_user="5/minute",
    )
    running = await start_server(tight)
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            await in_one_window()
            yield client
    finally:
        await running.stop()


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.json()["error"]["details"]["retry_after"] == retry_after


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )


async def test_login_attempts_are_limited_per_username(limited: httpx.AsyncClient) -> None:
    """A password guesser is slowed down on one account; the right password waits too."""
    victim = await register(limited, "victim")
    for _ in range(2):
        response = await login(limited, "victim", "wrong-password")
        assert response.status_code == 401
    assert_rate_limited(await login(limited, "VICTIM", victim.password))
    other = await register(limited, "bystander")
    assert (await login(limited, "bystander", other.password)).status_code == 200


async def test_sign_in_attempts_are_limited_per_address(limited: httpx.AsyncClient) -> None:
    """Register and login attempts from one address share its limit, whatever the name."""
    for n in range(6):
        response = await login(limited, f"nobody{n}", "password1")
        assert response.status_code == 401, response.text
    response = await limited.post(
        "/api/v1/auth/register",
        json={"username": "late", "email": "late@example.com", "password": "password1"},
    )
    assert_rate_limited(response)


async def test_api_calls_are_limited_per_user(settings: Settings) -> None:
    """Each user has their own budget, announced in RateLimit headers on every answer."""
    running = await start_server(dataclasses.replace(settings, api_rate_per_user="5/minute"))
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            await in_one_window()
            busy, calm = await register(client), await register(client)
            remaining = []
            for _ in range(5):
                response = await client.get("/api/v1/auth/me", headers=busy.headers)
                assert response.status_code == 200
                assert response.headers["RateLimit-Limit"] == "5"
                assert response.headers["RateLimit-Policy"] == "5;w=60"
                remaining.append(int(response.headers["RateLimit-Remaining"]))
            assert remaining == [4, 3, 2, 1, 0]
            assert_rate_limited(await client.get("/api/v1/events", headers=busy.headers))
            response = await client.get("/api/v1/auth/me", headers=calm.headers)
            assert response.status_code == 200
    finally:
        await running.stop()


async def test_processes_share_one_count_in_redis() -> None:
    """In distributed mode a user cannot multiply their budget by switching processes."""
    await require_service("postgres")
    await require_service("redis")
    async with fresh_postgres_schema() as database_url:
        settings = distributed_settings(database_url, REDIS_URL, api_rate_per_user="4/minute")
        servers = await start_pair(settings)
        try:
            async with (
                httpx.AsyncClient(base_url=servers[0].url) as first,
                httpx.AsyncClient(base_url=servers[1].url) as second,
            ):
                account = await register(first)
                await in_one_window()
                for client in (first, second, first, second):
                    response = await client.get("/api/v1/auth/me", headers=account.headers)
                    assert response.status_code == 200
                assert_rate_limited(await first.get("/api/v1/auth/me", headers=account.headers))
                assert_rate_limited(await second.get("/api/v1/auth/me", headers=account.headers))
        finally:
            for server in servers:
                await server.stop()


async def test_limits_hold_per_process_while_redis_is_down(
    database_url: str, throwaway_redis: RedisServer
) -> None:
    """A Redis outage neither fails requests nor lifts the limits: each process counts alone."""
    redis = throwaway_redis
    settings = server_settings(
        database_url=database_url, broadcast_url=redis.url, api_rate_per_user="3/minute"
    )
    running = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            account = await register(client)
            await in_one_window()
            assert (await client.get("/api/v1/auth/me", headers=account.headers)).status_code == 200
            redis.stop()
            for _ in range(3):
                response = await client.get("/api/v1/auth/me", headers=account.headers)
                assert response.status_code == 200, response.text
            assert_rate_limited(await client.get("/api/v1/auth/me", headers=account.headers))
    finally:
        await running.stop()
