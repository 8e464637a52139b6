"""`removed` reaches each socket exactly once per event (PROTOCOL.md, Sharing and Events:
DELETE), on revoke and on delete, whether the socket is on the process that made the
change or on another one sharing the Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.conftest import REDIS_URL, require_service
from tests.support import (
    Account,
    RunningServer,
    create_event,
    distributed_settings,
    register,
    share,
    start_pair,
)
from tests.ws_client import Sockets, is_type

pytestmark = pytest.mark.timeout(60)

EVENTS = "/api/v1/events"

# Takes the event away from the user: (http, owner, event_id, user).
Removal = Callable[[httpx.AsyncClient, Account, int, Account], Awaitable[None]]


async def revoke(http: httpx.AsyncClient, owner: Account, event_id: int, user: Account) -> None:
    url = f"{EVENTS}/{event_id}/permissions/{user.id}"
    assert (await http.delete(url, headers=owner.headers)).status_code == 204


async def delete(http: httpx.AsyncClient, owner: Account, event_id: int, _: Account) -> None:
    assert (await http.delete(f"{EVENTS}/{event_id}", headers=owner.headers)).status_code == 204


async def removed_per_socket(
    http: httpx.AsyncClient, ws_urls: list[str], pool: Sockets, remove: Removal
) -> list[int]:
    """How many `removed` each of the user's sockets got: one joined and one not, per process."""
    alice, bob = await register(http), await register(http)
    event_id = (await create_event(http, alice))["id"]
    marker = (await create_event(http, alice))["id"]
    await share(http, alice, event_id, bob, "editor")
    clients = []
    for url in ws_urls:
        clients.append(await pool.joined(url, bob.access_token, event_id))
        clients.append(await pool.ready(url, bob.access_token))
    await remove(http, alice, event_id, bob)
    # Shared after the removal, the marker's `access` follows the removal on bob's own
    # channel: once a socket has it, every copy of the removal has reached that socket.
    await share(http, alice, marker, bob, "viewer")
    counts = []
    for ws in clients:
        await ws.recv_until(is_type("removed", event_id))
        await ws.recv_until(is_type("access", marker))
        counts.append(sum(1 for m in ws.log if is_type("removed", event_id)(m)))
    return counts


@pytest.mark.parametrize("remove", [revoke, delete], ids=["revoke", "delete"])
async def test_one_removed_per_socket_on_one_process(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets, remove: Removal
) -> None:
    """On one process, a joined and an unjoined socket each get `removed` exactly once."""
    assert await removed_per_socket(client, [server.ws_url], sockets, remove) == [1, 1]


@pytest.mark.parametrize("remove", [revoke, delete], ids=["revoke", "delete"])
async def test_one_removed_per_socket_across_processes(
    shared_postgres: str, remove: Removal
) -> None:
    """Two processes on one Redis: sockets on the changing process and on the other one
    each get `removed` exactly once."""
    await require_service("redis")
    servers = await start_pair(distributed_settings(shared_postgres, REDIS_URL))
    pool = Sockets()
    try:
        async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as http:
            urls = [s.ws_url for s in servers]
            assert await removed_per_socket(http, urls, pool, remove) == [1, 1, 1, 1]
    finally:
        await pool.close_all()
        await asyncio.gather(*(s.stop() for s in servers))
