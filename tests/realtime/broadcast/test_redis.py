"""The Redis backend: two Broadcast instances stand for two processes; a throwaway
redis-server stops and restarts under a stream of messages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from realtime.broadcast import BroadcastUnavailable, Delivery, Message, Resync
from realtime.broadcast.redis import RedisBroadcast
from tests.realtime.broadcast.streams import (
    all_healthy,
    all_unhealthy,
    collect,
    next_delivery,
    payloads,
)
from tests.realtime.redis_server import RedisServer
from tests.support import eventually

pytestmark = pytest.mark.asyncio


@pytest.mark.timeout(30)
async def test_delivery_across_processes_without_echo(
    redis_url: str, make_broadcast: Callable, channel: str
) -> None:
    """Each process gets the other's messages once, and its own once (no Redis echo)."""
    a, b = await make_broadcast(redis_url), await make_broadcast(redis_url)
    async with a.subscribe(channel) as on_a, b.subscribe(channel) as on_b:
        # Each publish waits until the previous message was seen on both sides, so
        # Redis handled it first: an echo of it would arrive before the next message.
        for publisher, payload in [(a, b"1"), (b, b"2"), (a, b"3"), (b, b"4")]:
            await publisher.publish(channel, payload)
            assert await payloads(on_a, 1) == [payload]
            assert await payloads(on_b, 1) == [payload]
        assert len(on_a) == len(on_b) == 0


@pytest.mark.timeout(30)
async def test_order_across_processes(
    redis_url: str, make_broadcast: Callable, channel: str
) -> None:
    """1000 messages from one process reach another process in order."""
    a, b = await make_broadcast(redis_url), await make_broadcast(redis_url)
    sent = [str(i).encode() for i in range(1000)]
    async with b.subscribe(channel) as sub:
        for payload in sent:
            await a.publish(channel, payload)
        assert await payloads(sub, 1000) == sent


@pytest.mark.timeout(30)
async def test_a_callback_gets_another_process_messages_in_order(
    redis_url: str, make_broadcast: Callable, channel: str
) -> None:
    """1000 messages from one process are handed to another process's callback in order."""
    a, b = await make_broadcast(redis_url), await make_broadcast(redis_url)
    sent = [str(i).encode() for i in range(1000)]
    got: list[Delivery] = []
    async with b.subscribe(channel, on_delivery=got.append):
        for payload in sent:
            await a.publish(channel, payload)
        await eventually(lambda: len(got) == len(sent), what="every message handed over")
        assert got == [Message(channel, payload) for payload in sent]


@pytest.mark.timeout(30)
async def test_concurrent_publishes_arrive_once_in_publishing_order(
    redis_url: str, make_broadcast: Callable, channel: str
) -> None:
    """500 publishers at once (their PUBLISHes go in batches): each message reaches the
    other process once, in the order published, and every publisher returns."""
    a, b = await make_broadcast(redis_url), await make_broadcast(redis_url)
    sent = [str(i).encode() for i in range(500)]
    async with b.subscribe(channel) as sub:
        await asyncio.gather(*(a.publish(channel, payload) for payload in sent))
        assert await payloads(sub, 500) == sent


@pytest.mark.timeout(30)
async def test_subscribed_once_entered(
    redis_url: str, make_broadcast: Callable, channel: str
) -> None:
    """A message published by another process right after subscribing is delivered."""
    a, b = await make_broadcast(redis_url), await make_broadcast(redis_url)
    for i in range(20):
        async with b.subscribe(f"{channel}:{i}") as sub:
            await a.publish(f"{channel}:{i}", b"first")
            assert await payloads(sub, 1) == [b"first"]


@pytest.mark.timeout(30)
async def test_slow_subscriber_does_not_stall_others(
    redis_url: str, make_broadcast: Callable, channel: str
) -> None:
    """A subscriber that never reads overflows alone; the reader serves everyone else."""
    a, b = await make_broadcast(redis_url), await make_broadcast(redis_url)
    sent = [str(i).encode() for i in range(200)]
    async with b.subscribe(channel, max_queue=5) as slow, b.subscribe(channel) as fast:
        for payload in sent:
            await a.publish(channel, payload)
        assert await payloads(fast, 200) == sent
        assert await next_delivery(slow) == Resync(channel, "overflow")


@pytest.mark.timeout(30)
async def test_one_pubsub_connection_per_process(
    redis_url: str, make_broadcast: Callable, channel: str
) -> None:
    """Subscriptions share one pub/sub connection and one SUBSCRIBE per channel."""
    b = await make_broadcast(redis_url)
    admin = aioredis.Redis.from_url(redis_url)
    channels = [f"{channel}:{i}" for i in range(3)]

    async def subscribers(name: str) -> int:
        return dict(await admin.pubsub_numsub(name))[name.encode()]

    try:
        subs = [b.subscribe(name) for name in channels for _ in range(2)]
        for sub in subs:
            await sub.__aenter__()
        clients = await admin.client_list()
        names = [c["name"] for c in clients if c["name"].startswith("tandem-broadcast-")]
        assert names.count(f"tandem-broadcast-{b.process_id}-sub") == 1
        assert [await subscribers(name) for name in channels] == [1, 1, 1]
        await subs[0].__aexit__(None, None, None)  # one of two on channels[0]
        await subs[2].__aexit__(None, None, None)  # both on channels[1]
        await subs[3].__aexit__(None, None, None)
        await eventually(lambda: _is(subscribers(channels[1]), 0), what="UNSUBSCRIBE sent")
        assert await subscribers(channels[0]) == 1
        for sub in subs:
            await sub.__aexit__(None, None, None)
    finally:
        await admin.aclose()


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


@pytest.mark.timeout(60)
@pytest.mark.parametrize("b_reads", ["queue", "callback"])
async def test_redis_restart_is_survived(
    throwaway_redis: RedisServer, make_broadcast: Callable, channel: str, b_reads: str
) -> None:
    """While Redis is down publish raises but delivers locally; after it returns, every
    subscriber gets Resync("reconnected"), delivery resumes and health comes back. The
    other process's subscriber reads its queue, or is handed each delivery (on_delivery)."""
    a, b = await make_broadcast(throwaway_redis.url), await make_broadcast(throwaway_redis.url)
    outcomes: list[str] = []

    async def stream() -> None:
        for i in range(1_000_000):
            try:
                await a.publish(channel, str(i).encode())
                outcomes.append("ok")
            except BroadcastUnavailable:
                outcomes.append("unavailable")
            await asyncio.sleep(0.005)  # pacing, not synchronisation

    seen_a: list[Delivery] = []
    seen_b: list[Delivery] = []
    handed = seen_b.append if b_reads == "callback" else None
    async with a.subscribe(channel) as on_a, b.subscribe(channel, on_delivery=handed) as on_b:
        tasks = [asyncio.create_task(collect(on_a, seen_a)), asyncio.create_task(stream())]
        if handed is None:
            tasks.append(asyncio.create_task(collect(on_b, seen_b)))
        try:
            await eventually(lambda: len(seen_b) >= 20, what="stream flowing")
            await asyncio.to_thread(throwaway_redis.stop)

            await eventually(lambda: all_unhealthy(a, b), what="both report unhealthy")
            await eventually(lambda: "unavailable" in outcomes, what="publish refused")
            with pytest.raises(BroadcastUnavailable):
                await a.publish(channel, b"while down")
            await eventually(lambda: Message(channel, b"while down") in seen_a, what="local")

            await asyncio.to_thread(throwaway_redis.start)
            resync = Resync(channel, "reconnected")
            await eventually(lambda: resync in seen_a and resync in seen_b, what="resyncs")
            await eventually(lambda: all_healthy(a, b), what="both healthy again")
            after = seen_b.index(resync)
            await eventually(lambda: len(seen_b) > after + 20, what="stream resumed")
            await a.publish(channel, b"after restart")
            await eventually(lambda: Message(channel, b"after restart") in seen_b, what="marker")
        finally:
            for task in tasks:
                task.cancel()
            _, running = await asyncio.wait(tasks, timeout=5.0)
            assert not running, f"tasks ignored their cancellation: {running}"

    numbers = [int(d.payload) for d in seen_b if isinstance(d, Message) and d.payload.isdigit()]
    assert numbers == sorted(set(numbers)), "no duplicates, no reordering"
    assert seen_b.count(resync) == 1 and not any(d == Resync(channel, "overflow") for d in seen_b)


@pytest.mark.timeout(30)
async def test_start_while_redis_is_down(
    throwaway_redis: RedisServer, make_broadcast: Callable, channel: str
) -> None:
    """A broadcast connects without Redis, then resyncs and delivers once Redis comes.
    Publishers at once while it is down each get BroadcastUnavailable (none waits on)."""
    await asyncio.to_thread(throwaway_redis.stop)
    a, b = await make_broadcast(throwaway_redis.url), await make_broadcast(throwaway_redis.url)
    assert not await b.healthy()
    async with a.subscribe(channel) as on_a, b.subscribe(channel) as on_b:
        with pytest.raises(BroadcastUnavailable):
            await a.publish(channel, b"early")
        assert await payloads(on_a, 1) == [b"early"]  # local delivery happened anyway
        burst = [f"burst {i}".encode() for i in range(5)]
        refused = await asyncio.gather(
            *(a.publish(channel, payload) for payload in burst), return_exceptions=True
        )
        assert all(isinstance(outcome, BroadcastUnavailable) for outcome in refused), refused
        assert await payloads(on_a, 5) == burst
        await asyncio.to_thread(throwaway_redis.start)
        assert await next_delivery(on_b, within=10) == Resync(channel, "reconnected")
        assert await next_delivery(on_a, within=10) == Resync(channel, "reconnected")
        await eventually(lambda: all_healthy(a, b), what="both healthy")
        await a.publish(channel, b"late")
        assert await payloads(on_b, 1) == [b"late"]
        assert await payloads(on_a, 1) == [b"late"]


async def test_the_pubsub_connection_parses_with_hiredis(
    redis_url: str, make_broadcast: Callable, channel: str
) -> None:
    """redis-py falls back to its own parser without a word when hiredis is missing or
    does not match it; that parser cost a live edit a fifth of its CPU (bench/READING.md)."""
    b = await make_broadcast(redis_url)
    async with b.subscribe(channel):
        assert b._pubsub is not None
        assert type(b._pubsub._parser).__name__ == "_AsyncHiredisParser"


@pytest.mark.timeout(60)
async def test_a_silent_connection_is_pinged_then_replaced(
    throwaway_redis: RedisServer, channel: str
) -> None:
    """A pub/sub connection that stops answering (its server hung: the socket stays open)
    is pinged, then given up: once Redis answers again the subscriber gets a Resync, as
    after any loss, and messages flow again. Without the watchdog the reader would wait
    on the silent socket and never say that anything was missed."""
    quick = {"ping_interval": 0.3, "ping_timeout": 0.3, "command_timeout": 0.5}
    a = RedisBroadcast(throwaway_redis.url, **quick)
    b = RedisBroadcast(throwaway_redis.url, **quick)
    await a.connect()
    await b.connect()
    seen: list[Delivery] = []
    try:
        async with b.subscribe(channel, on_delivery=seen.append):
            await a.publish(channel, b"before")
            await eventually(lambda: Message(channel, b"before") in seen, what="before")
            throwaway_redis.freeze()
            try:
                await eventually(lambda: b._pubsub is None, what="the silent connection dropped")
            finally:
                throwaway_redis.thaw()
            await eventually(lambda: Resync(channel, "reconnected") in seen, what="resync")
            await a.publish(channel, b"after")
            await eventually(lambda: Message(channel, b"after") in seen, what="after")
    finally:
        await a.disconnect()
        await b.disconnect()


@pytest.mark.timeout(60)
async def test_a_busy_process_pings_before_giving_a_connection_up(
    redis_url: str, channel: str
) -> None:
    """A process whose loop is busy for longer than the ping timeout at a time (overload)
    checks on a quiet connection only between those stretches. It must still ping and
    wait for the answer before giving the connection up: a live connection dropped costs
    every room a Resync, which is more work for a process that is already behind."""
    b = RedisBroadcast(redis_url, ping_interval=0.2, ping_timeout=0.2)
    await b.connect()
    seen: list[Delivery] = []

    async def hog_the_loop() -> None:
        while True:
            _stall(0.5)
            # Free for less than the watchdog's sleep, so it looks in after a stretch.
            await asyncio.sleep(0.15)

    try:
        async with b.subscribe(channel, on_delivery=seen.append):
            hog = asyncio.create_task(hog_the_loop())
            try:
                # Several stretches, each longer than the whole ping window.
                await asyncio.sleep(5.5)
            finally:
                hog.cancel()
            assert seen == []
    finally:
        await b.disconnect()


def _stall(seconds: float) -> None:
    """Block the event loop, as a long synchronous stretch of work would."""
    time.sleep(seconds)
