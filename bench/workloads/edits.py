"""W1 (edit throughput) and W2 (fan-out): writers patch events, subscribers watch the rooms.

Every event has one writer socket (the owner) and some subscriber sockets (viewers,
spread over the servers). A writer keeps one op in flight: it sends the next after
the `ack` of the last, at most `rate` per second when paced. Each op carries its send
time, so a subscriber measures delivery latency from the frame alone, and every
socket checks its stream against the contract: each version after the joined one,
exactly once, in order (`ack`s on the writer's socket, `patch`es on the others).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bench.api import create_events as create
from bench.api import http_client, share
from bench.client import Message, Socket, close_all, open_many
from bench.servers import Deployment
from bench.stats import Latency, Stream, StreamCheck
from bench.workloads import CpuMeter, CpuUse, Users, progress

# How long the subscribers may take to receive the last versions after the writers stop.
DRAIN_TIMEOUT = 30.0
ACK_TIMEOUT = 30.0


@dataclass
class EditsResult:
    events: int
    subscribers_per_event: int
    rate_per_writer: float | None  # None: as fast as acks come back
    duration: float
    acks: int
    deliveries: int
    ack_latency: Latency
    delivery_latency: Latency
    errors: int
    check: StreamCheck
    cpu: CpuUse

    @property
    def acks_per_s(self) -> float:
        return self.acks / self.duration

    @property
    def deliveries_per_s(self) -> float:
        return self.deliveries / self.duration


@dataclass
class Subscriber:
    latencies: list[float]
    stream: Stream | None = None

    def on_message(self, message: Message, at: float) -> None:
        kind = message["type"]
        if kind == "patch" and self.stream is not None:
            self.stream.take(message["version"])
            value = message["ops"][0].get("value")
            if isinstance(value, dict) and "sent" in value:
                self.latencies.append(at - value["sent"])
        elif kind == "joined":
            self.stream = Stream(message["version"])


@dataclass
class Writer:
    event_id: int
    stream: Stream | None = None
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    _waiting: asyncio.Future[tuple[Message, float]] | None = None

    def on_message(self, message: Message, at: float) -> None:
        kind = message["type"]
        if kind in ("ack", "error") and self._waiting is not None and not self._waiting.done():
            self._waiting.set_result((message, at))
        elif kind == "joined":
            self.stream = Stream(message["version"])

    async def run(self, socket: Socket, deadline: float, rate: float | None) -> None:
        assert self.stream is not None
        loop = asyncio.get_running_loop()
        began, n = time.monotonic(), 0
        while time.monotonic() < deadline:
            if rate is not None:
                await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
            n += 1
            self._waiting = loop.create_future()
            sent = time.monotonic()
            await socket.send(_patch(self.event_id, n, self.stream.version, sent))
            message, at = await asyncio.wait_for(self._waiting, ACK_TIMEOUT)
            if message["type"] == "ack":
                self.latencies.append(at - sent)
                self.stream.take(message["version"])
            else:
                self.errors += 1


def _patch(event_id: int, n: int, base_version: int, sent: float) -> dict[str, Any]:
    value = {"n": n, "sent": sent}
    return {
        "type": "patch",
        "event_id": event_id,
        "op_id": f"b{n}",
        "base_version": base_version,
        "ops": [{"op": "add", "path": "/metadata/bench", "value": value}],
    }


async def run(
    deployment: Deployment,
    users: Users,
    *,
    events: int,
    subscribers: int,
    duration: float,
    rate: float | None = None,
) -> EditsResult:
    urls = deployment.ws_urls
    async with http_client(deployment.urls[0]) as http:
        event_ids = await create(http, users.owner, events)
        await share(http, users.owner, event_ids, users.viewers, "viewer")
    writers = [Writer(event_id) for event_id in event_ids]
    latencies: list[float] = []
    readers = [Subscriber(latencies) for _ in range(events * subscribers)]
    plan = [
        (urls[n % len(urls)], users.owner.token, w.event_id, w.on_message)
        for n, w in enumerate(writers)
    ]
    for n, reader in enumerate(readers):
        event_id, k = event_ids[n // subscribers], n % subscribers
        viewer = users.viewers[k % len(users.viewers)]
        plan.append((urls[(n + 1) % len(urls)], viewer.token, event_id, reader.on_message))
    total = len(plan)
    step = max(1, total // 5)

    def joined(done: int) -> None:
        if done % step == 0:
            progress(f"{done}/{total} sockets joined")

    opened = await open_many(plan, joined)
    sockets = [socket for socket, _ in opened]
    try:
        progress(f"writing for {duration:.0f} s")
        meter = CpuMeter(deployment)
        began = time.monotonic()
        await asyncio.gather(
            *(
                w.run(s, began + duration, rate)
                for w, s in zip(writers, sockets[: len(writers)], strict=True)
            )
        )
        elapsed = time.monotonic() - began
        cpu = meter.read()
        final = {w.event_id: w.stream.version for w in writers if w.stream is not None}
        await _drain(readers, plan[len(writers) :], final)
    finally:
        await close_all(sockets)
    check = StreamCheck()
    for w in writers:
        assert w.stream is not None
        check.add(f"writer of event {w.event_id}", w.stream, final[w.event_id])
    for n, (reader, (_url, _token, event_id, _)) in enumerate(
        zip(readers, plan[len(writers) :], strict=True)
    ):
        check.add(
            f"subscriber {n} of event {event_id}", reader.stream or Stream(0), final[event_id]
        )
    return EditsResult(
        events=events,
        subscribers_per_event=subscribers,
        rate_per_writer=rate,
        duration=elapsed,
        acks=sum(len(w.latencies) for w in writers),
        deliveries=sum(r.stream.received for r in readers if r.stream is not None),
        ack_latency=Latency.of([x for w in writers for x in w.latencies]),
        delivery_latency=Latency.of(latencies),
        errors=sum(w.errors for w in writers),
        check=check,
        cpu=cpu,
    )


async def _drain(readers: list[Subscriber], plan: list[Any], final: dict[int, int]) -> None:
    """Wait (bounded) until every subscriber has the last version of its event."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        behind = sum(
            1
            for reader, entry in zip(readers, plan, strict=True)
            if reader.stream is None or reader.stream.version < final[entry[2]]
        )
        if not behind:
            return
        await asyncio.sleep(0.05)
    progress(f"some subscribers still behind after {DRAIN_TIMEOUT:.0f} s")
