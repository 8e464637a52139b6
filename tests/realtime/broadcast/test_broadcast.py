"""The broadcast module, on memory:// and on a real Redis (REDIS_URL)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import pytest_asyncio
import redis
import redis.asyncio as aioredis

from realtime.broadcast import (
    Broadcast,
    BroadcastUnavailable,
    Delivery,
    Message,
    Resync,
    Subscription,
    SubscriptionClosed,
    create_broadcast,
    redact_url,
)
from tests.realtime.redis_server import RedisServer, require_services
from tests.support import eventually

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

pytestmark = pytest.mark.asyncio


async def next_delivery(sub: Subscription, within: float = 5.0) -> Delivery:
    return await asyncio.wait_for(sub.get(), within)


async def payloads(sub: Subscription, count: int) -> list[bytes]:
    """The next `count` deliveries, which must all be messages."""
    result = []
    for _ in range(count):
        delivery = await next_delivery(sub)
        assert isinstance(delivery, Message), delivery
        result.append(delivery.payload)
    return result


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


# Both backends.


@pytest.mark.timeout(30)
async def test_publish_reaches_subscriber(broadcast: Broadcast, channel: str) -> None:
    """A published payload reaches a subscriber of its channel unchanged."""
    async with broadcast.subscribe(channel) as sub:
        await broadcast.publish(channel, b"\x00hello:world")
        assert await next_delivery(sub) == Message(channel, b"\x00hello:world")


@pytest.mark.timeout(30)
async def test_every_subscriber_of_a_channel_gets_it(broadcast: Broadcast, channel: str) -> None:
    """Two subscribers of one channel each get every message once."""
    async with broadcast.subscribe(channel) as first, broadcast.subscribe(channel) as second:
        await broadcast.publish(channel, b"1")
        await broadcast.publish(channel, b"2")
        assert await payloads(first, 2) == [b"1", b"2"]
        assert await payloads(second, 2) == [b"1", b"2"]
        assert len(first) == len(second) == 0


@pytest.mark.timeout(30)
async def test_other_channels_deliver_nothing(broadcast: Broadcast, channel: str) -> None:
    """A subscriber gets nothing published on a channel it did not subscribe to."""
    async with broadcast.subscribe(channel) as sub:
        await broadcast.publish(channel + ":other", b"not for you")
        await broadcast.publish(channel, b"marker")
        assert await payloads(sub, 1) == [b"marker"]
        assert len(sub) == 0


@pytest.mark.timeout(30)
async def test_order_of_1000_messages_is_kept(broadcast: Broadcast, channel: str) -> None:
    """1000 messages from one publisher arrive in the order they were published."""
    sent = [str(i).encode() for i in range(1000)]
    async with broadcast.subscribe(channel) as sub:
        for payload in sent:
            await broadcast.publish(channel, payload)
        assert await payloads(sub, 1000) == sent


@pytest.mark.timeout(30)
async def test_overflow_gives_one_resync_then_resumes(broadcast: Broadcast, channel: str) -> None:
    """A full queue drops messages, yields one Resync("overflow"), then delivers again."""
    async with broadcast.subscribe(channel, max_queue=10) as sub:
        for i in range(25):  # never blocks, although nobody reads
            await broadcast.publish(channel, str(i).encode())
        assert await next_delivery(sub) == Resync(channel, "overflow")
        backlog = [await next_delivery(sub) for _ in range(len(sub))]
        assert all(isinstance(d, Message) for d in backlog), backlog
        numbers = [int(d.payload) for d in backlog if isinstance(d, Message)]
        assert numbers == sorted(numbers) and all(n >= 10 for n in numbers)
        await broadcast.publish(channel, b"after")
        assert await payloads(sub, 1) == [b"after"]


@pytest.mark.timeout(30)
async def test_disconnect_ends_iteration(broadcast: Broadcast, channel: str) -> None:
    """disconnect() ends every subscription's iteration, and get() then raises."""
    received: list[Delivery] = []
    async with broadcast.subscribe(channel) as sub:

        async def consume() -> None:
            async for delivery in sub:
                received.append(delivery)

        consumer = asyncio.create_task(consume())
        await broadcast.publish(channel, b"one")
        await eventually(lambda: len(received) == 1, what="first message consumed")
        await broadcast.disconnect()
        await asyncio.wait_for(consumer, 5.0)
        assert received == [Message(channel, b"one")]
        with pytest.raises(SubscriptionClosed):
            await sub.get()


@pytest.mark.timeout(30)
async def test_unknown_scheme_is_refused() -> None:
    """An unknown URL scheme raises ValueError naming it and the supported ones."""
    with pytest.raises(ValueError, match=r"'kafka'.*memory://.*redis://"):
        create_broadcast("kafka://user:secret@localhost:9092")


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "url",
    [
        "redis://user:s3cr3t@localhost:6379/0",
        "rediss://:s3cr3t@localhost:6380/1",
        "redis://localhost:6379/0?password=s3cr3t",
        "kafka://user:s3cr3t@localhost",
    ],
)
async def test_url_password_is_never_shown(url: str) -> None:
    """Neither repr, str, the url property nor a scheme error shows the password."""
    try:
        broadcast = create_broadcast(url)
    except ValueError as exc:
        shown = [str(exc)]
    else:
        shown = [repr(broadcast), str(broadcast), broadcast.url]
        assert "localhost" in shown[0]
    assert all("s3cr3t" not in text for text in shown), shown


@pytest.mark.timeout(30)
async def test_memory_broadcast_is_always_healthy(make_broadcast: Callable) -> None:
    """memory:// has nothing to lose, so it reports healthy."""
    broadcast = await make_broadcast("memory://")
    assert await broadcast.healthy()


# Redis only: two Broadcast instances stand for two processes.


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


# Redis restarting under a stream of messages, on a throwaway server.


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except RuntimeError as exc:
        if require_services():
            pytest.fail(str(exc))
        pytest.skip(f"FAULT TESTS NOT RUN: {exc}")
    yield server
    server.close()


@pytest.mark.timeout(60)
async def test_redis_restart_is_survived(
    redis_server: RedisServer, make_broadcast: Callable, channel: str
) -> None:
    """While Redis is down publish raises but delivers locally; after it returns, every
    subscriber gets Resync("reconnected"), delivery resumes and health comes back."""
    await asyncio.to_thread(redis_server.start)
    a, b = await make_broadcast(redis_server.url), await make_broadcast(redis_server.url)
    outcomes: list[str] = []

    async def stream() -> None:
        for i in range(1_000_000):
            try:
                await a.publish(channel, str(i).encode())
                outcomes.append("ok")
            except BroadcastUnavailable:
                outcomes.append("unavailable")
            await asyncio.sleep(0.005)  # pacing, not synchronisation

    async with a.subscribe(channel) as on_a, b.subscribe(channel) as on_b:
        seen_a: list[Delivery] = []
        seen_b: list[Delivery] = []
        tasks = [asyncio.create_task(_collect(on_a, seen_a)), asyncio.create_task(stream())]
        tasks.append(asyncio.create_task(_collect(on_b, seen_b)))
        try:
            await eventually(lambda: len(seen_b) >= 20, what="stream flowing")
            await asyncio.to_thread(redis_server.stop)

            await eventually(lambda: _all_unhealthy(a, b), what="both report unhealthy")
            await eventually(lambda: "unavailable" in outcomes, what="publish refused")
            with pytest.raises(BroadcastUnavailable):
                await a.publish(channel, b"while down")
            await eventually(lambda: Message(channel, b"while down") in seen_a, what="local")

            await asyncio.to_thread(redis_server.start)
            resync = Resync(channel, "reconnected")
            await eventually(lambda: resync in seen_a and resync in seen_b, what="resyncs")
            await eventually(lambda: _all_healthy(a, b), what="both healthy again")
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
    redis_server: RedisServer, make_broadcast: Callable, channel: str
) -> None:
    """A broadcast connects without Redis, then resyncs and delivers once Redis comes."""
    a, b = await make_broadcast(redis_server.url), await make_broadcast(redis_server.url)
    assert not await b.healthy()
    async with a.subscribe(channel) as on_a, b.subscribe(channel) as on_b:
        with pytest.raises(BroadcastUnavailable):
            await a.publish(channel, b"early")
        assert await payloads(on_a, 1) == [b"early"]  # local delivery happened anyway
        await asyncio.to_thread(redis_server.start)
        assert await next_delivery(on_b, within=10) == Resync(channel, "reconnected")
        assert await next_delivery(on_a, within=10) == Resync(channel, "reconnected")
        await eventually(lambda: _all_healthy(a, b), what="both healthy")
        await a.publish(channel, b"late")
        assert await payloads(on_b, 1) == [b"late"]
        assert await payloads(on_a, 1) == [b"late"]


async def _collect(sub: Subscription, into: list[Delivery]) -> None:
    async for delivery in sub:
        into.append(delivery)


async def _all_unhealthy(*broadcasts: Broadcast) -> bool:
    return not any([await b.healthy() for b in broadcasts])


async def _all_healthy(*broadcasts: Broadcast) -> bool:
    return all([await b.healthy() for b in broadcasts])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///./tandem.db", "sqlite:///./tandem.db"),
        ("memory://", "memory://"),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://app:s3cret@db/cal?schema=x", "postgresql://app:***@db/cal?schema=x"),
        (
            "postgresql://db/cal?user=app&password=s3cret",
            "postgresql://db/cal?user=app&password=***",
        ),
    ],
)
async def test_urls_are_printed_without_passwords(url: str, shown: str) -> None:
    assert redact_url(url) == shown
