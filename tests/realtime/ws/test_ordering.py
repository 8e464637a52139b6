"""The delivery guarantee (PROTOCOL.md, WebSocket: Guarantees): every version after the one a
client joined at, exactly once, in increasing order, on one process and across processes.

Writers race on one event: half of their ops replace /title (these conflict with each
other and are retried after catching up from the room stream), the other half set the
writer's own metadata key (these are rebased). Observers only listen.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import REDIS_URL, require_service
from tests.realtime.redis_server import RedisServer
from tests.support import (
    Account,
    RunningServer,
    create_event,
    distributed_settings,
    eventually,
    register,
    share,
    start_pair,
)
from tests.ws_client import Sockets, Writer, WSClient

pytestmark = pytest.mark.timeout(120)


@dataclass
class Stream:
    event_id: int
    writers: list[Writer]
    observers: list[WSClient]
    final: int


def writer_ops(index: int, n: int) -> list[dict]:
    if (index + n) % 2 == 0:
        return [{"op": "replace", "path": "/title", "value": f"w{index} op {n}"}]
    return [{"op": "add", "path": f"/metadata/w{index}", "value": n}]


async def run_stream(
    http: httpx.AsyncClient,
    ws_urls: list[str],
    *,
    writers: int,
    ops_each: int,
    observers: int,
    disruption: Callable[[], Awaitable[None]] | None = None,
    timeout: float = 90,
) -> Stream:
    """Race `writers` on one event while `observers` listen; answer what everyone saw.

    A `disruption` starts once the first writer is a third of the way through and runs
    while everyone goes on writing; nobody writes their last third until it has ended,
    so edits are certain to land during it and after it.
    """
    owner = await register(http)
    editors = [await register(http) for _ in range(3)]
    event = await create_event(http, owner)
    event_id = event["id"]
    for editor in editors:
        await share(http, owner, event_id, editor, "editor")
    accounts: list[Account] = [owner, *editors]
    a_third_written = asyncio.Event()

    async def disrupt() -> None:
        await a_third_written.wait()
        if disruption is not None:
            await disruption()

    disrupted = asyncio.create_task(disrupt())
    pool = Sockets()
    try:
        sockets = []
        for i in range(writers + observers):
            account = accounts[i % len(accounts)]
            ws = await pool.ready(ws_urls[i % len(ws_urls)], account.access_token, name=f"s{i}")
            joined = await ws.join(event_id)
            assert joined["version"] == 1, joined
            sockets.append(ws)
        writing = [Writer(ws, event_id) for ws in sockets[:writers]]
        listening = sockets[writers:]

        async def write(index: int, writer: Writer) -> None:
            for n in range(ops_each):
                if disruption is not None and n == 2 * ops_each // 3:
                    await disrupted
                await writer.submit(writer_ops(index, n))
                if index == 0 and n == ops_each // 3:
                    a_third_written.set()

        await asyncio.wait_for(
            asyncio.gather(*(write(i, w) for i, w in enumerate(writing))), timeout
        )
        accepted = sorted(v for w in writing for v in w.accepted.values())
        final = 1 + len(accepted)
        # Every accepted op is its own version, 2..final, each acked to exactly one writer.
        assert accepted == list(range(2, final + 1))
        assert not any(w.noops for w in writing)

        def caught_up() -> bool:
            return all(ws.latest[event_id] >= final for ws in sockets)

        await eventually(caught_up, timeout=30)
        expected = list(range(2, final + 1))
        for ws in sockets:
            versions = ws.versions(event_id)
            assert versions == expected, f"{ws.name}: {describe(versions, expected)}"
        for writer in writing:
            own = set(writer.accepted.values())
            for delivery in writer.client.deliveries[event_id]:
                if delivery.version in own:
                    assert delivery.kind == "ack", (writer.client.name, delivery)
                else:
                    assert delivery.kind == "patch", (writer.client.name, delivery)
                    assert delivery.op_id not in writer.accepted, (writer.client.name, delivery)
        for ws in listening:
            assert {d.kind for d in ws.deliveries[event_id]} == {"patch"}
        got = await http.get(f"/api/v1/events/{event_id}", headers=owner.headers)
        assert got.json()["version"] == final
        return Stream(event_id, writing, listening, final)
    finally:
        disrupted.cancel()
        await pool.close_all()


def describe(seen: list[int], expected: list[int]) -> str:
    """Say what is wrong with a stream: missing, duplicated, reordered."""
    missing = sorted(set(expected) - set(seen))
    duplicated = sorted({v for v in seen if seen.count(v) > 1})
    reordered = [(a, b) for a, b in itertools.pairwise(seen) if b <= a]
    return (
        f"{len(seen)} versions, expected {len(expected)}; missing {missing[:20]}, "
        f"duplicated {duplicated[:20]}, out of order at {reordered[:10]}"
    )


async def test_one_process_delivers_every_version_once_in_order(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """20 racing writers x 25 ops, 5 observers: each sees 2..final once, in order, no gaps."""
    stream = await run_stream(client, [server.ws_url], writers=20, ops_each=25, observers=5)
    assert stream.final == 1 + 20 * 25
    assert sum(w.conflicts for w in stream.writers) > 0, "the race never conflicted"


async def test_two_processes_deliver_every_version_once_in_order(shared_postgres: str) -> None:
    """Two servers on one PostgreSQL and one Redis: clients on both see one gapless order."""
    await require_service("redis")
    servers = await start_pair(distributed_settings(shared_postgres, REDIS_URL))
    try:
        async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as http:
            stream = await run_stream(
                http, [s.ws_url for s in servers], writers=20, ops_each=25, observers=6
            )
        assert stream.final == 1 + 20 * 25
    finally:
        await asyncio.gather(*(s.stop() for s in servers))


async def test_redis_restart_mid_stream_loses_nothing(
    shared_postgres: str, throwaway_redis: RedisServer
) -> None:
    """Redis restarted mid-stream: no version is lost, duplicated or reordered anywhere."""
    servers = await start_pair(distributed_settings(shared_postgres, throwaway_redis.url))

    async def restart() -> None:
        await asyncio.to_thread(throwaway_redis.stop)
        # The outage itself, not a synchronisation: edits go on meanwhile.
        await asyncio.sleep(1)
        await asyncio.to_thread(throwaway_redis.start)

    try:
        async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as http:
            stream = await run_stream(
                http,
                [s.ws_url for s in servers],
                writers=8,
                ops_each=20,
                observers=4,
                disruption=restart,
            )
        assert stream.final == 1 + 8 * 20
    finally:
        await asyncio.gather(*(s.stop() for s in servers))
