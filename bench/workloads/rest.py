"""R1: REST for a user with many events (some recurring weekly, a few open-ended series).

The events are loaded through the batch API; a few are patched once so that a diff
between versions 1 and 2 exists; PostgreSQL then gathers its statistics (ANALYZE), as
autovacuum would in a deployment. Then each operation runs alone: first one request at
a time (`ALONE` of them, for a latency undisturbed by queueing), then for a fixed time
with `concurrency` requests in flight (spread over the servers): create, get, list one
month (plain, and expanded into occurrences, overrides applied: a third of the
recurring series carry some), the month's conflicts, diff, and the export of the whole
calendar as .ics (slow: fewer timed alone, two in flight). Each figure
is also read as a ratio to GET /events/{id} of the same run, which the load of a shared
machine moves less than the absolute figures. The operations take turns, in `ROUNDS`
rounds of a share of their time each, so that a machine that speeds up or slows down
during the run moves every operation alike, and so their ratios less. Last, the user's
first sync and an incremental sync after `SYNC_CHANGES` changes (workloads/sync.py).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx

from bench.api import create_events, documents, http_client, register
from bench.servers import Deployment
from bench.stats import Latency
from bench.workloads import CpuMeter, CpuUse, progress, sync

MONTH_WINDOW = {"start": "2026-06-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"}
MONTH = {**MONTH_WINDOW, "limit": "200"}
PATCHED = 64  # events given a second version, for the diff
ALONE = 40  # requests timed one at a time per operation
ROUNDS = 3  # turns each operation takes, its time and ALONE shared among them
# An export of the whole calendar takes seconds (icalendar writes about a thousand
# events a second): a calendar application polls its feed now and then, so it is
# timed alone fewer times and with two in flight rather than `concurrency`.
SLOW = {"export calendar.ics": (3, 2)}
SYNC_CHANGES = 1_000  # changes between the first and the incremental sync
OPERATIONS = (
    "create",
    "get",
    "list one month",
    "list one month, expanded",
    "month conflicts",
    "diff",
    "export calendar.ics",
)


@dataclass(frozen=True)
class Operation:
    name: str
    requests: int
    errors: int
    duration: float
    latency: Latency
    alone: Latency  # one request at a time
    cpu: CpuUse
    items: int  # in the last answer of a listing; 0 otherwise

    @property
    def per_second(self) -> float:
        return self.requests / self.duration


@dataclass(frozen=True)
class RestResult:
    events: int
    concurrency: int
    operations: list[Operation]
    sync: sync.SyncResult | None  # None when only some operations ran


async def run(
    deployment: Deployment,
    *,
    events: int,
    seconds: float,
    concurrency: int = 16,
    only: tuple[str, ...] = (),
) -> RestResult:
    """Every operation and the syncs, or only the operations named in `only` (the
    profiling pass, and `python -m bench --r1-operations`)."""
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(http_client(url, concurrency))
            for url in deployment.urls
        ]
        user = await register(clients[0], "r1")
        progress(f"loading {events} events")
        ids = await create_events(clients[0], user, events)
        patched = ids[:PATCHED]
        for event_id in patched:
            response = await clients[0].patch(
                f"/events/{event_id}",
                json=[{"op": "replace", "path": "/title", "value": "patched"}],
                headers={**user.headers, "Content-Type": "application/json-patch+json"},
            )
            response.raise_for_status()
        await _analyze(deployment)
        new_doc = _created_document()
        requests = {
            "create": lambda http: http.post("/events", json=new_doc, headers=user.headers),
            "get": lambda http: http.get(f"/events/{random.choice(ids)}", headers=user.headers),
            "list one month": lambda http: http.get("/events", params=MONTH, headers=user.headers),
            "list one month, expanded": lambda http: http.get(
                "/events", params={**MONTH, "expand": "true"}, headers=user.headers
            ),
            "month conflicts": lambda http: http.get(
                "/events/conflicts", params=MONTH_WINDOW, headers=user.headers
            ),
            "diff": lambda http: http.get(
                f"/events/{random.choice(patched)}/diff/1/2", headers=user.headers
            ),
            "export calendar.ics": lambda http: http.get("/calendar.ics", headers=user.headers),
        }
        assert tuple(requests) == OPERATIONS, "OPERATIONS names every request above"
        chosen = [name for name in requests if not only or name in only]
        tallies = {name: _Tally() for name in chosen}
        for turn in range(ROUNDS):
            for name in chosen:
                progress(f"{name} for {seconds / ROUNDS:.1f} s (round {turn + 1} of {ROUNDS})")
                alone, in_flight = SLOW.get(name, (ALONE, concurrency))
                await _measure(
                    deployment,
                    clients,
                    requests[name],
                    seconds / ROUNDS,
                    min(concurrency, in_flight),
                    _share(alone, turn),
                    tallies[name],
                )
        operations = [tallies[name].operation(name) for name in chosen]
        synced = None
        if not only:
            progress(f"first sync, then an incremental one after {SYNC_CHANGES:,} changes")
            synced = await sync.run(clients[0], user, ids, SYNC_CHANGES)
    return RestResult(events, concurrency, operations, synced)


def _created_document() -> dict[str, Any]:
    """What "create" posts: a weekly series with overrides, as every thirtieth event of
    the calendar is, but the first of them to begin after the month. The thousand or so
    it creates stay out of every window the other operations read: in June, a thousand
    copies of one series made the month's conflicts millions of pairs (3 s one at a time,
    53 s with 16 in flight) and the listings longer than the calendar's own."""
    month_end = datetime.fromisoformat(MONTH_WINDOW["end"])
    return next(
        doc
        for n in itertools.count(0, 30)
        if datetime.fromisoformat((doc := documents(1, first=n)[0])["start_time"]) >= month_end
    )


async def _analyze(deployment: Deployment) -> None:
    """PostgreSQL's statistics for the rows just loaded, as autovacuum would have made
    them a minute after a bulk import. The shared server here runs without autovacuum,
    and never analysed, it planned the month listing as a nested loop over every one of
    the user's 10,000 permissions: 34 ms under EXPLAIN ANALYZE, against 1 ms analysed."""
    url = deployment.env["DATABASE_URL"]
    if not url.startswith("postgresql"):
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


@dataclass
class _Tally:
    """One operation's measurements, added up over its rounds."""

    latencies: list[float] = field(default_factory=list)
    alone: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    # Core-seconds used while requests were in flight.
    server_cpu: float = 0.0
    generator_cpu: float = 0.0
    last: httpx.Response | None = None

    def operation(self, name: str) -> Operation:
        items = 0
        # Decoded once, not per answer: the load generator shares the servers' cores,
        # and decoding every 100-200 KB page cost it 1.4-1.7 ms a request that GET's
        # answer does not (load generator CPU per request, with and without:
        # bench/READING.md).
        if name.startswith("list") and self.last is not None and self.last.status_code < 400:
            items = len(self.last.json()["items"])
        elapsed = max(self.elapsed, 1e-9)
        cpu = CpuUse(round(self.server_cpu / elapsed, 2), round(self.generator_cpu / elapsed, 2))
        return Operation(
            name,
            len(self.latencies),
            self.errors,
            self.elapsed,
            Latency.of(self.latencies),
            Latency.of(self.alone),
            cpu,
            items,
        )


def _share(total: int, turn: int) -> int:
    """Round `turn`'s part of `total` requests timed alone: the rounds' parts add up."""
    return total // ROUNDS + (1 if turn < total % ROUNDS else 0)


async def _measure(
    deployment: Deployment,
    clients: list[httpx.AsyncClient],
    request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    seconds: float,
    concurrency: int,
    alone_count: int,
    tally: _Tally,
) -> None:
    """One round of one operation, added to its tally: `alone_count` requests one at a
    time, then `seconds` with `concurrency` in flight."""
    for _ in range(alone_count):
        sent = time.monotonic()
        response = await request(clients[0])
        tally.alone.append(time.monotonic() - sent)
        if response.status_code >= 400:
            tally.errors += 1
    meter = CpuMeter(deployment)
    began = time.monotonic()
    deadline = began + seconds

    async def worker(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            sent = time.monotonic()
            response = await request(http)
            tally.latencies.append(time.monotonic() - sent)
            if response.status_code >= 400:
                tally.errors += 1
            tally.last = response

    await asyncio.gather(*(worker(clients[n % len(clients)]) for n in range(concurrency)))
    elapsed = time.monotonic() - began
    used = meter.read()
    tally.elapsed += elapsed
    tally.server_cpu += used.server * elapsed
    tally.generator_cpu += used.generator * elapsed
