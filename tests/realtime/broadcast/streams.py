"""Reading a subscription in the broadcast tests, with a deadline on every wait."""

from __future__ import annotations

import asyncio

from realtime.broadcast import Broadcast, Delivery, Message, Subscription


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


async def collect(sub: Subscription, into: list[Delivery]) -> None:
    async for delivery in sub:
        into.append(delivery)


async def all_unhealthy(*broadcasts: Broadcast) -> bool:
    return not any([await b.healthy() for b in broadcasts])


async def all_healthy(*broadcasts: Broadcast) -> bool:
    return all([await b.healthy() for b in broadcasts])
