"""The broadcast interface on both backends (memory:// and a real Redis), and its URLs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from realtime.broadcast import (
    Broadcast,
    Delivery,
    Message,
    Resync,
    SubscriptionClosed,
    create_broadcast,
    redact_url,
)
from tests.realtime.broadcast.streams import next_delivery, payloads
from tests.support import eventually

pytestmark = pytest.mark.asyncio


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
async def test_a_callback_gets_every_delivery_in_order_and_nothing_is_queued(
    broadcast: Broadcast, channel: str
) -> None:
    """With on_delivery, each message is handed over in publishing order, past what the
    queue would hold; the subscription cannot also be read, and leaving it stops them."""
    got: list[Delivery] = []
    sent = [str(i).encode() for i in range(25)]
    async with broadcast.subscribe(channel, max_queue=10, on_delivery=got.append) as sub:
        for payload in sent:
            await broadcast.publish(channel, payload)
        assert got == [Message(channel, payload) for payload in sent]
        assert len(sub) == 0
        with pytest.raises(RuntimeError):
            await sub.get()
    await broadcast.publish(channel, b"after")
    assert len(got) == len(sent)


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
    """Any service URL prints with its password (in the authority or the query) masked."""
    assert redact_url(url) == shown
