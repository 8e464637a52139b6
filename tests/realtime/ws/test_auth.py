"""WebSocket authentication (PROTOCOL.md, WebSocket: auth, ready, close codes 4401/4408)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from realtime.settings import Settings
from tests.support import RunningServer, login, register, start_server
from tests.ws_client import Sockets, is_error

pytestmark = pytest.mark.timeout(120)

REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"


def types(messages: list[dict]) -> list[str]:
    return [m.get("type") for m in messages]


async def test_header_auth_sends_ready_before_anything_else(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """With the Authorization header, `ready` (user and session) is the first message."""
    alice = await register(client)
    ws = await sockets.connect(server.ws_url, alice.access_token)
    await ws.send({"type": "ping"})  # pipelined right after the upgrade
    ready = await ws.recv(10)
    assert ready["type"] == "ready", ready
    assert ready["user"]["id"] == alice.id
    assert ready["user"]["username"] == alice.username
    assert isinstance(ready["session"], str) and ready["session"]
    assert (await ws.recv())["type"] == "pong"
    assert ws.frame_kinds[0] == "text"  # tandem.v1.json speaks text frames


async def test_first_message_auth_sends_ready(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """A first `auth` message authenticates; `ready` comes before the answer to what follows."""
    alice = await register(client)
    ws = await sockets.connect(server.ws_url, alice.access_token, header_auth=False)
    await ws.send({"type": "ping"})
    ready = await ws.recv(10)
    assert ready["type"] == "ready", ready
    assert ready["user"]["id"] == alice.id
    assert isinstance(ready["session"], str) and ready["session"]
    assert (await ws.recv())["type"] == "pong"


async def test_default_subprotocol_is_json(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """A client that names no subprotocol gets JSON text frames."""
    alice = await register(client)
    ws = await sockets.connect(server.ws_url, alice.access_token, subprotocol=None)
    assert (await ws.recv(10))["type"] == "ready"
    assert ws.frame_kinds == ["text"]


async def test_no_auth_within_ten_seconds_closes_4408(
    server: RunningServer, sockets: Sockets
) -> None:
    """A socket that never authenticates is closed with 4408 after about 10 s, with no ready."""
    started = time.monotonic()
    ws = await sockets.connect(server.ws_url)
    await ws.expect_close(4408, timeout=20)
    assert time.monotonic() - started >= 8, "closed long before the 10 s allowed for auth"
    assert "ready" not in types(ws.log)


@pytest.mark.parametrize("kind", ["garbage", "refresh_token"])
async def test_bad_header_token_is_accepted_then_closed_4401(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets, kind: str
) -> None:
    """A bad token in the header: the upgrade succeeds, then close 4401 and never ready."""
    alice = await register(client)
    token = "not-a-token" if kind == "garbage" else alice.refresh_token
    ws = await sockets.connect(server.ws_url, token)  # raises if the upgrade is refused
    await ws.expect_close(4401, timeout=10)
    assert "ready" not in types(ws.log)


async def test_bad_token_in_auth_message_closes_4401(
    server: RunningServer, sockets: Sockets
) -> None:
    """A bad token in the first `auth` message closes the socket with 4401."""
    ws = await sockets.connect(server.ws_url, "not-a-token", header_auth=False)
    await ws.expect_close(4401, timeout=10)
    assert "ready" not in types(ws.log)


async def test_later_auth_with_fresh_token_is_silent(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """A later `auth` with a refreshed token of the same user is answered by nothing."""
    alice = await register(client)
    ws = await sockets.ready(server.ws_url, alice.access_token)
    fresh = await client.post(REFRESH, json={"refresh_token": alice.refresh_token})
    assert fresh.status_code == 200, fresh.text
    await ws.send({"type": "auth", "token": fresh.json()["access_token"]})
    assert await ws.ping() == []  # nothing between the auth and the pong
    event = await client.post(
        "/api/v1/events",
        json={
            "title": "after re-auth",
            "start_time": "2026-03-02T08:00:00Z",
            "end_time": "2026-03-02T09:00:00Z",
        },
        headers=alice.headers,
    )
    await ws.join(event.json()["id"])


async def test_later_auth_with_another_users_token_closes_4401(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """Swapping in a valid token of a different user closes the socket with 4401."""
    alice, bob = await register(client), await register(client)
    ws = await sockets.ready(server.ws_url, alice.access_token)
    await ws.send({"type": "auth", "token": bob.access_token})
    await ws.expect_close(4401)


async def test_later_auth_with_bad_token_closes_4401(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """Swapping in a bad token closes the socket with 4401."""
    alice = await register(client)
    ws = await sockets.ready(server.ws_url, alice.access_token)
    await ws.send({"type": "auth", "token": "not-a-token"})
    await ws.expect_close(4401)


async def test_logout_closes_that_logins_sockets_only(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """Logout closes every socket of that token's login with 4401; another login's stays."""
    alice = await register(client)
    other_login = await login(client, alice)
    first = await sockets.ready(server.ws_url, alice.access_token)
    second = await sockets.ready(server.ws_url, alice.access_token, header_auth=False)
    other = await sockets.ready(server.ws_url, other_login.access_token)
    response = await client.post(
        LOGOUT, headers=alice.headers, json={"refresh_token": alice.refresh_token}
    )
    assert response.status_code == 204
    await first.expect_close(4401, timeout=10)
    await second.expect_close(4401, timeout=10)
    await other.ping()


async def test_refresh_token_reuse_closes_that_logins_sockets(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """Reusing a refresh token closes the sockets of the whole login (old and new tokens)."""
    alice = await register(client)
    other_login = await login(client, alice)
    old = await sockets.ready(server.ws_url, alice.access_token)
    rotated = await client.post(REFRESH, json={"refresh_token": alice.refresh_token})
    assert rotated.status_code == 200
    new = await sockets.ready(server.ws_url, rotated.json()["access_token"])
    other = await sockets.ready(server.ws_url, other_login.access_token)
    reuse = await client.post(REFRESH, json={"refresh_token": alice.refresh_token})
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "token_revoked"
    await old.expect_close(4401, timeout=10)
    await new.expect_close(4401, timeout=10)
    await other.ping()


async def test_later_auth_moves_the_socket_to_the_new_login(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """After `auth` with another login's token, the socket follows that login's logout."""
    alice = await register(client)
    second_login = await login(client, alice)
    moved = await sockets.ready(server.ws_url, alice.access_token)
    await moved.send({"type": "auth", "token": second_login.access_token})
    assert await moved.ping() == []
    witness = await sockets.ready(server.ws_url, alice.access_token)
    assert (await client.post(LOGOUT, headers=alice.headers)).status_code == 204
    await witness.expect_close(4401, timeout=10)  # the first login's close went out
    await moved.ping()  # ... and did not reach the socket that moved away from it
    assert (await client.post(LOGOUT, headers=second_login.headers)).status_code == 204
    await moved.expect_close(4401, timeout=10)


@pytest.fixture
async def short_token_server(settings: Settings) -> AsyncIterator[RunningServer]:
    """A server whose access tokens live 2 seconds."""
    running = await start_server(dataclasses.replace(settings, access_token_ttl=2))
    try:
        yield running
    finally:
        await running.stop()


async def test_expired_token_gets_error_then_close_4401(
    short_token_server: RunningServer,
) -> None:
    """When the access token expires with no fresh `auth`, error token_expired then close 4401."""
    pool = Sockets()
    try:
        async with httpx.AsyncClient(base_url=short_token_server.url, timeout=30) as http:
            alice = await register(http)
        ws = await pool.ready(short_token_server.ws_url, alice.access_token)
        error = await ws.recv_until(is_error("token_expired"), timeout=15)
        assert error["type"] == "error"
        await ws.expect_close(4401, timeout=10)
    finally:
        await pool.close_all()
