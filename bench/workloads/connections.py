"""W3: idle authenticated connections, each joined to one of the events, and what they cost.

The figure is the servers' resident memory per connection: (RSS with N sockets -
RSS before any) / N, at each step of N, plus the marginal cost between steps.
RSS is read after the servers settle (presence deltas sent, queues drained).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from bench.api import create_events, http_client, share
from bench.client import Socket, close_all, ignore, open_many
from bench.servers import Deployment
from bench.workloads import Users, progress

# Presence ticks are 30 ms; a second of quiet lets every delta go out.
SETTLE = 2.0


@dataclass(frozen=True)
class Step:
    connections: int
    rss: int  # bytes, all the deployment's servers together
    per_connection: float  # bytes, from the RSS before any connection
    marginal: float  # bytes, from the previous step
    connect_seconds: float


@dataclass(frozen=True)
class ConnectionsResult:
    events: int
    baseline_rss: int
    steps: list[Step]
    failed: int


async def run(
    deployment: Deployment, users: Users, *, steps: tuple[int, ...], events: int = 100
) -> ConnectionsResult:
    async with http_client(deployment.urls[0]) as http:
        event_ids = await create_events(http, users.owner, events)
        await share(http, users.owner, event_ids, users.viewers, "viewer")
    tokens = [users.owner.token, *(v.token for v in users.viewers)]
    return await hold_idle(deployment, tokens, event_ids, steps)


async def hold_idle(
    deployment: Deployment, tokens: list[str], event_ids: list[int], steps: tuple[int, ...]
) -> ConnectionsResult:
    """Open idle sockets, step by step, each joined to one of `event_ids`, and read RSS."""
    urls, events = deployment.ws_urls, len(event_ids)
    await asyncio.sleep(SETTLE)
    baseline = previous_rss = deployment.rss()
    sockets: list[Socket] = []
    results: list[Step] = []
    failed = 0
    loop = asyncio.get_running_loop()
    try:
        for target in steps:
            first = len(sockets)
            plan = [
                (urls[n % len(urls)], tokens[n % len(tokens)], event_ids[n % events], ignore)
                for n in range(first, target)
            ]
            began = loop.time()
            opened = await open_many(plan, _reporter(first, target))
            connect_seconds = loop.time() - began
            sockets.extend(socket for socket, _ in opened)
            await asyncio.sleep(SETTLE)
            failed = sum(1 for s in sockets if s.close_code is not None)
            rss = deployment.rss()
            results.append(
                Step(
                    connections=target,
                    rss=rss,
                    per_connection=(rss - baseline) / target,
                    marginal=(rss - previous_rss) / (target - first),
                    connect_seconds=round(connect_seconds, 1),
                )
            )
            progress(f"{target} connections: {(rss - baseline) / target / 1024:.1f} KiB each")
            previous_rss = rss
    finally:
        await close_all(sockets)
    return ConnectionsResult(events, baseline, results, failed)


def _reporter(first: int, target: int) -> Callable[[int], None]:
    step = max(1, (target - first) // 4)

    def report(done: int) -> None:
        if done % step == 0:
            progress(f"{first + done}/{target} sockets joined")

    return report
