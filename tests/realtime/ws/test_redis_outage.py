"""What a Redis outage must not cost (PROTOCOL.md, Sharing and Auth): a revoke, a role
change or a logout made while the processes could not tell each other still reaches
the sockets on the other process once Redis is back, from the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.postgres_server import PostgresServer
from tests.realtime.redis_server import RedisServer
from tests.shared_event import SharedEvents
from tests.support import (
    create_event,
    distributed_settings,
    eventually,
    register,
    set_role,
    share,
    start_pair,
    title_ops,
)
from tests.ws_client import Sockets, is_error, is_type

pytestmark = pytest.mark.timeout(120)


@dataclass
class Outage:
    """Two servers on one Redis that the test stops and starts: REST goes to the first,
    the sockets under test are on the second."""

    redis: RedisServer
    http: httpx.AsyncClient
    ws_url: str
    sockets: Sockets


@pytest.fixture
async def outage(shared_postgres: str, throwaway_redis: RedisServer) -> AsyncIterator[Outage]:
    first, second = await start_pair(distributed_settings(shared_postgres, throwaway_redis.url))
    sockets = Sockets()
    try:
        async with httpx.AsyncClient(base_url=first.url) as http:
            yield Outage(throwaway_redis, http, second.ws_url, sockets)
    finally:
        await sockets.close_all()
        await asyncio.gather(first.stop(), second.stop())


async def test_revoke_and_role_change_during_an_outage_reach_the_room_after_it(
    outage: Outage,
) -> None:
    """A revoke, role change, edit and delete made during a Redis outage reach the room after it."""
    http = outage.http
    room = await SharedEvents(http, outage.ws_url, outage.sockets)("editor", "editor")
    (alice, bob, carol), event_id = room.people, room.id
    doomed = (await create_event(http, alice))["id"]
    await share(http, alice, doomed, carol, "viewer")
    b, c = await room.sockets(bob, carol)
    await c.join(doomed)

    await asyncio.to_thread(outage.redis.stop)
    revoked = await http.delete(
        f"/api/v1/events/{event_id}/permissions/{bob.id}", headers=alice.headers
    )
    assert revoked.status_code == 204
    await set_role(http, alice, event_id, carol, "viewer")
    edited = await http.patch(
        f"/api/v1/events/{event_id}",
        json=title_ops("after the revoke"),
        headers={**alice.headers, "Content-Type": "application/json-patch+json"},
    )
    assert edited.status_code == 200
    deleted = await http.delete(f"/api/v1/events/{doomed}", headers=alice.headers)
    assert deleted.status_code == 204
    await asyncio.to_thread(outage.redis.start)

    removed = await b.recv_until(is_type("removed", event_id), timeout=30)
    assert removed["reason"] == "revoked"
    access = await c.recv_until(is_type("access", event_id), timeout=30)
    assert access["role"] == "viewer"
    patch = await c.recv_until(is_type("patch", event_id), timeout=30)
    assert patch["version"] == 2
    gone = await c.recv_until(is_type("removed", doomed), timeout=30)
    assert gone["reason"] == "deleted"
    await b.ping()
    assert not [m for m in b.log if m.get("type") == "patch"], "a revoked user saw an edit"


async def test_logout_during_an_outage_closes_the_socket_after_it(outage: Outage) -> None:
    """A logout made while Redis is down closes that login's socket (4401) once Redis is back."""
    http, sockets = outage.http, outage.sockets
    bob = await register(http)
    b = await sockets.ready(outage.ws_url, bob.access_token)
    await asyncio.to_thread(outage.redis.stop)
    out = await http.post(
        "/api/v1/auth/logout",
        json={"refresh_token": bob.refresh_token},
        headers=bob.headers,
    )
    assert out.status_code == 204
    await asyncio.to_thread(outage.redis.start)
    await b.recv_until(is_error("token_revoked"), timeout=30)
    await b.expect_close(4401, timeout=10)


async def test_a_catch_up_while_the_database_is_down_is_tried_again(
    throwaway_postgres: PostgresServer,
    throwaway_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis comes back while PostgreSQL is down: the room cannot read the edit it missed
    then. It says so (a warning, no traceback) and reads it once the database is back."""
    servers = await start_pair(distributed_settings(throwaway_postgres.url, throwaway_redis.url))
    sockets = Sockets()
    try:
        async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as http:
            room = await SharedEvents(http, servers[1].ws_url, sockets)("viewer")
            (alice, bob), event_id = room.people, room.id
            (b,) = await room.sockets(bob)
            await asyncio.to_thread(throwaway_redis.stop)
            edited = await http.patch(
                f"/api/v1/events/{event_id}",
                json=title_ops("while Redis was away"),
                headers={**alice.headers, "Content-Type": "application/json-patch+json"},
            )
            assert edited.status_code == 200
            await asyncio.to_thread(throwaway_postgres.stop)
            await asyncio.to_thread(throwaway_redis.start)
            postponed = f"room {event_id}: database unavailable"
            await eventually(lambda: postponed in caplog.text, timeout=30)
            await asyncio.to_thread(throwaway_postgres.start)
            patch = await b.recv_until(is_type("patch", event_id), timeout=30)
            assert (patch["version"], patch["ops"]) == (2, title_ops("while Redis was away"))
    finally:
        await sockets.close_all()
        await asyncio.gather(*(server.stop() for server in servers))
