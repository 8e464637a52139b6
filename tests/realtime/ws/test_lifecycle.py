"""Connection lifecycle (PROTOCOL.md, WebSocket: close codes 1001 and 4429; DESIGN.md, Rooms:
slow sockets never stall a room)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from realtime.settings import Settings
from tests.shared_event import SharedEvents
from tests.support import create_event, register, start_server, title_ops
from tests.ws_client import Sockets, Writer, is_type

pytestmark = pytest.mark.timeout(120)


async def test_shutdown_closes_1001_and_rejoin_with_since_catches_up(settings: Settings) -> None:
    """A stopping server closes sockets with 1001; rejoining a new one with since misses nothing."""
    pool = Sockets()
    first = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as http:
            alice = await register(http)
            event = await create_event(http, alice)
        ws = await pool.ready(first.ws_url, alice.access_token)
        await ws.join(event["id"])
        for n in range(3):
            await ws.submit(event["id"], title_ops(f"before {n}"))
    finally:
        await first.stop()
    await ws.expect_close(1001, timeout=10)
    second = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=second.url, timeout=30) as http:
            response = await http.put(
                f"/api/v1/events/{event['id']}", json={"title": "meanwhile"}, headers=alice.headers
            )
            assert response.status_code == 200
        again = await pool.ready(second.ws_url, alice.access_token)
        joined = await again.join(event["id"], since=ws.latest[event["id"]])
        assert [p["version"] for p in joined.get("patches", [])] == [5]
        assert joined["version"] == 5
    finally:
        await pool.close_all()
        await second.stop()


async def test_rate_limited_patches_then_close_4429(settings: Settings) -> None:
    """Patches over the rate are refused rate_limited; a client that keeps on is closed 4429."""
    running = await start_server(dataclasses.replace(settings, ws_op_rate="5/second"))
    pool = Sockets()
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            alice = await register(http)
            event = await create_event(http, alice)
        ws = await pool.ready(running.ws_url, alice.access_token)
        await ws.join(event["id"])
        limited, accepted = [], 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30  # three times the grace a client has
        n = 0
        while not ws.closed.is_set():
            assert loop.time() < deadline, "never closed with 4429"
            n += 1
            try:
                reply = await ws.submit(event["id"], title_ops(f"n{n}"), timeout=10)
            except AssertionError:
                if ws.closed.is_set():
                    break
                raise
            if reply["type"] == "ack":
                accepted += 1
                continue
            assert reply["code"] == "rate_limited", reply
            assert reply["event_id"] == event["id"] and reply["op_id"] == f"{ws.name}-{n}"
            limited.append(reply)
        await ws.expect_close(4429)
        assert limited and accepted
    finally:
        await pool.close_all()
        await running.stop()


# ~9 KB per version, 1200 versions: ~11 MB towards the stalled socket, more than its TCP
# buffers plus the server's bounded send queue (512 frames) can hold.
WRITERS, OPS_EACH = 8, 150
FINAL = 1 + WRITERS * OPS_EACH


async def test_a_socket_that_stops_reading_does_not_stall_the_room(
    server, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """A joined client that never reads does not hold back acks or patches for the others,
    and is closed with 1013 once its bounded send queue is full."""
    alice = await register(client)
    event = await create_event(client, alice)
    event_id = event["id"]
    # A raw client that reads nothing after the upgrade: its TCP window fills up.
    stalled = await ws_connect(
        server.ws_url,
        additional_headers={"Authorization": f"Bearer {alice.access_token}"},
        subprotocols=["tandem.v1.json"],  # type: ignore[list-item]
        max_queue=1,
        compression=None,
        max_size=None,
        # No keepalive: its pong would wait behind the backlog, and the client would
        # give up on the connection (1006) once the test ran past the ping timeout.
        ping_interval=None,
    )
    try:
        await stalled.send(json.dumps({"type": "join", "event_id": event_id}))
        observer = await sockets.ready(server.ws_url, alice.access_token)
        writers = []
        for _ in range(WRITERS):
            ws = await sockets.joined(server.ws_url, alice.access_token, event_id)
            writers.append(Writer(ws, event_id, timeout=15))
        await observer.join(event_id)

        async def write(index: int, writer: Writer) -> None:
            for n in range(OPS_EACH):
                value = f"{index}-{n}-" + "x" * 9000
                await writer.submit([{"op": "replace", "path": "/description", "value": value}])

        await asyncio.wait_for(asyncio.gather(*(write(i, w) for i, w in enumerate(writers))), 90)
        await observer.recv_until(
            lambda m: m.get("type") == "patch" and m["version"] == FINAL, timeout=15
        )
        assert observer.versions(event_id) == list(range(2, FINAL + 1))
        # What the stalled socket finally reads ends with the server giving up on it.
        with contextlib.suppress(ConnectionClosed):
            async for _ in stalled:
                pass
        assert stalled.close_code == 1013, (stalled.close_code, stalled.close_reason)
    finally:
        stalled.transport.abort()
        await asyncio.wait_for(stalled.wait_closed(), 10)


async def test_leave_all_rooms_on_disconnect(shared_event: SharedEvents) -> None:
    """A closed socket stops counting as a member: a new joiner does not see it."""
    room = await shared_event()
    alice, event = room.owner, room.event
    gone, witness = await room.sockets(alice, alice)
    session = gone.ready["session"]
    await gone.close()
    await witness.recv_until(
        lambda m: (
            is_type("presence", event["id"])(m)
            and any(x["session"] == session for x in m.get("left") or [])
        ),
        timeout=10,
    )
    late = await room.socket(alice, join=False)
    joined = await late.join(event["id"])
    assert session not in {m["session"] for m in joined["members"]}
