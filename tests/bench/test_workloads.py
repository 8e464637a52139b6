"""A tiny run of each workload against real `tandem serve` processes: the benchmark keeps working.

Sizes are a few sockets and about a second each; the assertions are outcomes (acks
received, every delivery complete and in order, memory read), never timings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from bench import servers
from bench.servers import Deployment
from bench.workloads import Users, connections, edits, register_users, rest
from tests.conftest import REDIS_URL, fresh_postgres_schema, require_service


@pytest.fixture(scope="module")
async def embedded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    folder = tmp_path_factory.mktemp("bench")
    deployment = await servers.start(
        "embedded", f"sqlite:///{folder / 'bench.db'}", "memory://", 1, folder / "logs"
    )
    try:
        yield deployment
    finally:
        await deployment.stop()


@pytest.fixture(scope="module")
async def users(embedded: Deployment) -> Users:
    return await register_users(embedded, viewers=2)


async def test_w1_every_edit_is_acked_and_delivered_in_order(
    embedded: Deployment, users: Users
) -> None:
    """W1: writers get acks, and each subscriber receives every version once, in order."""
    result = await edits.run(embedded, users, events=2, subscribers=2, duration=1.0)
    assert result.acks > 0 and result.errors == 0
    assert result.deliveries == 2 * result.acks
    assert result.check.clean, result.check.problems
    assert result.check.streams == 2 * (1 + 2)
    assert result.ack_latency.count == result.acks
    assert result.delivery_latency.count == result.deliveries


async def test_w2_a_paced_writer_reaches_every_subscriber(
    embedded: Deployment, users: Users
) -> None:
    """W2: one paced writer, many subscribers of one event, nothing lost or repeated."""
    result = await edits.run(embedded, users, events=1, subscribers=20, duration=1.0, rate=20)
    assert result.acks > 0 and result.errors == 0
    assert result.deliveries == 20 * result.acks
    assert result.check.clean, result.check.problems


async def test_w3_reads_the_memory_of_idle_connections(embedded: Deployment, users: Users) -> None:
    """W3: idle joined sockets stay open, and the server's RSS is read at each step."""
    result = await connections.run(embedded, users, steps=(10, 20), events=2)
    assert [s.connections for s in result.steps] == [10, 20]
    assert result.baseline_rss > 0 and all(s.rss > 0 for s in result.steps)
    assert result.failed == 0


async def test_r1_measures_each_rest_operation(embedded: Deployment) -> None:
    """R1: every operation answers without error, the month listing finds events, and the
    incremental sync holds exactly the events changed after the first."""
    result = await rest.run(embedded, events=40, seconds=0.3, concurrency=4)
    names = [op.name for op in result.operations]
    assert names == [
        "create",
        "get",
        "list one month",
        "list one month, expanded",
        "month conflicts",
        "diff",
        "export calendar.ics",
    ]
    for op in result.operations:
        assert op.requests > 0 and op.errors == 0, op
    assert all(op.items > 0 for op in result.operations if op.name.startswith("list"))
    # Creates timed one at a time (ALONE of them) come before those timed in flight.
    created = next(op.requests + rest.ALONE for op in result.operations if op.name == "create")
    assert result.sync.first.items == 40 + created
    assert result.sync.changes == 40 and result.sync.incremental.items == 40


def test_r1_creates_series_that_stay_out_of_the_month() -> None:
    """What "create" posts recurs, with overrides, as the calendar's series do, but
    begins after the month: the thousand it creates change no month answer."""
    created = rest._created_document()
    assert created["recurrence"] and created["overrides"]
    begins = datetime.fromisoformat(created["start_time"])
    assert begins >= datetime.fromisoformat(rest.MONTH_WINDOW["end"])
    assert all(datetime.fromisoformat(moved) >= begins for moved in created["overrides"])


async def test_w1_across_two_processes(tmp_path: Path) -> None:
    """Distributed: two servers on PostgreSQL and Redis deliver every version in order."""
    await require_service("redis")
    async with fresh_postgres_schema() as url:
        deployment = await servers.start("distributed", url, REDIS_URL, 2, tmp_path)
        try:
            users = await register_users(deployment, viewers=2)
            result = await edits.run(deployment, users, events=2, subscribers=2, duration=1.0)
        finally:
            await deployment.stop()
    assert result.acks > 0 and result.errors == 0
    assert result.deliveries == 2 * result.acks
    assert result.check.clean, result.check.problems
