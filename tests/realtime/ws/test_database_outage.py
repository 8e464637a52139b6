"""The WebSocket while PostgreSQL is down or restarting: `unavailable`, never an auth
close code, the socket kept, and a resubmitted op applied exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.postgres_server import PostgresServer
from tests.support import (
    Account,
    RunningServer,
    create_event,
    eventually,
    register,
    server_settings,
    start_server,
)
from tests.ws_client import Sockets, WSClient, is_type

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def server(throwaway_postgres: PostgresServer) -> AsyncIterator[RunningServer]:
    """The server on the private cluster, in place of the usual one on both databases
    (the `sockets` pool closes its clients before this stops)."""
    running = await start_server(server_settings(database_url=throwaway_postgres.url))
    try:
        yield running
    finally:
        await running.stop()


async def history_op_ids(http: httpx.AsyncClient, owner: Account, event_id: int) -> list[str]:
    """The op_id of every version after the first, once the database answers again."""
    url = f"/api/v1/events/{event_id}/history"

    async def read() -> httpx.Response | None:
        response = await http.get(url, params={"limit": 200}, headers=owner.headers)
        return response if response.status_code == 200 else None

    response = await eventually(read, timeout=30, interval=0.1)
    return [v["op_id"] for v in response.json()["items"] if v["origin"] == "ws"]


async def submit_until_acked(ws: WSClient, event_id: int, ops: Any, op_id: str) -> list[dict]:
    """Send the op, resubmitting the same op_id after each `unavailable`; every reply."""
    replies = []
    while True:
        reply = await ws.submit(event_id, ops, op_id=op_id, keep=False, timeout=30)
        replies.append(reply)
        if reply["type"] == "ack":
            return replies
        assert (reply["code"], reply["event_id"], reply["op_id"]) == (
            "unavailable",
            event_id,
            op_id,
        ), reply
        await asyncio.sleep(0.05)  # a client's back-off, not synchronisation


async def test_auth_while_database_is_down_closes_1013_not_4401(
    server: RunningServer, throwaway_postgres: PostgresServer, sockets: Sockets
) -> None:
    """A valid token presented while PostgreSQL is stopped (header or first message) gets
    `error unavailable` and close 1013; once it is back, the same token is taken."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        alice = await register(http)
    await asyncio.to_thread(throwaway_postgres.stop)
    for header_auth in (True, False):
        ws = await sockets.connect(server.ws_url, alice.access_token, header_auth=header_auth)
        before_close = await ws.expect_close(1013, timeout=30)
        assert [(m["type"], m.get("code")) for m in before_close] == [("error", "unavailable")]
    await asyncio.to_thread(throwaway_postgres.start)

    async def accepted() -> bool:
        ws = await sockets.connect(server.ws_url, alice.access_token)
        first = await ws.recv(30)
        return first["type"] == "ready"

    assert await eventually(accepted, timeout=30, interval=0.1)


async def test_fresh_token_while_database_is_down_keeps_the_socket(
    server: RunningServer, throwaway_postgres: PostgresServer, sockets: Sockets
) -> None:
    """An `auth` message that cannot be checked while PostgreSQL is stopped is answered
    `error unavailable` and the socket stays open (no 4401)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        alice = await register(http)
    ws = await sockets.ready(server.ws_url, alice.access_token)
    await asyncio.to_thread(throwaway_postgres.stop)
    await ws.send({"type": "auth", "token": alice.access_token})
    refused = await ws.recv(30)
    assert (refused["type"], refused["code"]) == ("error", "unavailable"), refused
    await ws.ping()
    assert not ws.closed.is_set()


async def test_patch_while_database_is_down_is_unavailable_and_lands_once(
    server: RunningServer, throwaway_postgres: PostgresServer, sockets: Sockets
) -> None:
    """A patch while PostgreSQL is stopped is `error unavailable` naming its event_id and
    op_id, the socket answers ping, and the same op_id resubmitted later lands once."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        alice = await register(http)
        event_id = (await create_event(http, alice))["id"]
        ws = await sockets.joined(server.ws_url, alice.access_token, event_id)
        ops = [{"op": "replace", "path": "/title", "value": "after the outage"}]
        await asyncio.to_thread(throwaway_postgres.stop)
        refused = await ws.submit(event_id, ops, op_id="down-1", timeout=30)
        assert (refused["type"], refused["code"]) == ("error", "unavailable"), refused
        assert (refused["event_id"], refused["op_id"]) == (event_id, "down-1")
        await ws.ping()
        await asyncio.to_thread(throwaway_postgres.start)
        replies = await submit_until_acked(ws, event_id, ops, "down-1")
        assert replies[-1]["version"] == 2
        # Once more: the op is acknowledged with its version, not applied again.
        again = await ws.submit(event_id, ops, op_id="down-1", base_version=1)
        assert (again["type"], again["version"]) == ("ack", 2), again
        assert await history_op_ids(http, alice, event_id) == ["down-1"]


WRITERS = 8


async def test_patches_during_a_restart_are_acked_or_unavailable_and_land_once(
    server: RunningServer, throwaway_postgres: PostgresServer, sockets: Sockets
) -> None:
    """Writers patching through `pg_ctl restart -m fast` get only `ack` or `error
    unavailable`, keep their sockets, and after resubmitting each op_id the history
    holds every acknowledged op exactly once."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        alice = await register(http)
        event_id = (await create_event(http, alice))["id"]
        writers = [
            await sockets.joined(server.ws_url, alice.access_token, event_id)
            for _ in range(WRITERS)
        ]
        acked: list[str] = []
        refusals = 0
        restarted = asyncio.Event()

        async def write(index: int, ws: WSClient) -> None:
            nonlocal refusals
            n = 0
            while not restarted.is_set() or n < 2:
                n += 1
                op_id = f"w{index}-{n}"
                # Each writer its own key: patches rebase, never conflict.
                ops = [{"op": "add", "path": f"/metadata/w{index}", "value": n}]
                replies = await submit_until_acked(ws, event_id, ops, op_id)
                refusals += len(replies) - 1
                acked.append(op_id)

        async def restart() -> None:
            await eventually(lambda: len(acked) >= WRITERS, timeout=30)
            await asyncio.to_thread(throwaway_postgres.restart, "fast")
            restarted.set()

        await asyncio.wait_for(
            asyncio.gather(restart(), *(write(i, ws) for i, ws in enumerate(writers))), 75
        )
        for ws in writers:
            await ws.ping()
        stored = await history_op_ids(http, alice, event_id)
    assert refusals > 0, "no patch met the restart"
    assert sorted(stored) == sorted(acked)
    assert len(stored) == len(set(stored))
    assert all(not ws.closed.is_set() for ws in writers)
    assert not [
        m for ws in writers for m in ws.log if is_type("error")(m) and m["code"] != "unavailable"
    ]
