"""`make bench`: start the servers of each mode, run the workloads and baselines, profile, report.

The embedded mode always runs. The distributed mode needs PostgreSQL, Redis, pgbench
and redis-benchmark; when one is missing it is reported (on stderr and in
RESULTS.md) and skipped, and the rest still runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench import baselines, ceiling, machine, profiling, servers
from bench.servers import Deployment
from bench.workloads import Users, connections, edits, register_users, rest

OUT = Path(__file__).resolve().parent / "out"  # gitignored: logs, profiles, raw figures


@dataclass(frozen=True)
class Scale:
    """Sizes of one run; `FULL` is the issue's, `QUICK` checks the whole pipeline in a minute."""

    w1_events: int = 100
    w1_subscribers: int = 4
    w1_seconds: float = 20
    w2_subscribers: int = 1000
    w2_rate: float = 50
    w2_seconds: float = 20
    w3_steps: tuple[int, ...] = (5000, 10000)
    w3_events: int = 100
    r1_events: int = 10_000
    r1_seconds: float = 5
    r1_concurrency: int = 16
    pgbench_clients: int = 16
    pgbench_seconds: int = 10
    profile_seconds: float = 10


WORKLOADS = ("W1", "W2", "W3", "R1")
FULL = Scale()
QUICK = Scale(
    w1_events=10,
    w1_seconds=3,
    w2_subscribers=50,
    w2_seconds=3,
    w3_steps=(200, 400),
    w3_events=10,
    r1_events=600,
    r1_seconds=1,
    pgbench_seconds=2,
    profile_seconds=3,
)


@dataclass
class ModeResults:
    mode: str
    commands: list[str]
    w1: edits.EditsResult | None = None
    w2: edits.EditsResult | None = None
    w3: connections.ConnectionsResult | None = None
    r1: rest.RestResult | None = None
    failures: dict[str, str] = field(default_factory=dict)


@dataclass
class Ceiling:
    """W2 and W3 against the bare WebSocket broadcast server (bench/ceiling.py)."""

    command: str
    w2: ceiling.FanOutResult | None = None
    w3: connections.ConnectionsResult | None = None
    failures: dict[str, str] = field(default_factory=dict)


@dataclass
class Profile:
    name: str
    path: Path
    summary: profiling.Summary


@dataclass
class Run:
    scale: Scale
    command: str
    machine: dict[str, str]
    started: float
    load_before: str
    load_after: str = ""
    finished: float = 0.0
    modes: list[ModeResults] = field(default_factory=list)
    baselines: dict[str, baselines.Baseline] = field(default_factory=dict)
    ceiling: Ceiling | None = None
    profiles: list[Profile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


WORKLOADS = ("W3", "W1", "W2", "R1")


async def run(
    scale: Scale,
    modes: list[str],
    postgres_url: str,
    redis_url: str,
    profile: bool,
    command: str,
    workloads: tuple[str, ...] = WORKLOADS,
    r1_operations: tuple[str, ...] = (),
) -> Run:
    limit = servers.raise_open_files()
    say(f"open files limit {limit}; output in {OUT}")
    OUT.mkdir(exist_ok=True)
    result = Run(scale, command, machine.describe(), time.time(), machine.load_average())
    distributed = "distributed" in modes and await _distributed_ready(
        result, postgres_url, redis_url
    )
    if {"W2", "W3"} & set(workloads):
        result.ceiling = await _ceiling(scale, workloads)
    if "embedded" in modes:
        result.modes.append(
            await _mode(scale, "embedded", _sqlite_url(), "memory://", 1, workloads, r1_operations)
        )
    if distributed:
        await _baselines(result, scale, postgres_url, redis_url)
        await _fresh_database(postgres_url)
        result.modes.append(
            await _mode(scale, "distributed", postgres_url, redis_url, 2, workloads, r1_operations)
        )
    if profile:
        passes = [("embedded", "W1"), ("embedded", "W2"), ("embedded", "R1")]
        passes += (
            [("distributed", "W1"), ("distributed", "W2"), ("distributed", "R1")]
            if distributed
            else []
        )
        for mode, workload in passes:
            if workload not in workloads or mode not in modes:
                continue
            result.profiles.append(await _profile(scale, mode, workload, postgres_url, redis_url))
    result.finished = time.time()
    result.load_after = machine.load_average()
    (OUT / "results.json").write_text(json.dumps(asdict(result), indent=1, default=str))
    return result


async def _distributed_ready(result: Run, postgres_url: str, redis_url: str) -> bool:
    """Record the services' versions, or why the distributed mode cannot run."""
    try:
        await _fresh_database(postgres_url)
        result.machine["PostgreSQL"] = await machine.postgres_version(postgres_url)
        result.machine["Redis"] = await machine.redis_version(redis_url)
    except Exception as exc:  # any failure to reach a service skips the distributed mode
        result.problems.append(f"distributed mode skipped: {type(exc).__name__}: {exc}")
    for tool in ("pgbench", "redis-benchmark"):
        if baselines.find_tool(tool) is None:
            result.problems.append(f"distributed mode skipped: {tool} not found")
    for problem in result.problems:
        say(f"ERROR: {problem}")
    return not result.problems


async def _baselines(result: Run, scale: Scale, postgres_url: str, redis_url: str) -> None:
    say(f"baseline: pgbench edit transaction, {scale.pgbench_seconds} s")
    result.baselines["pgbench"] = await baselines.pgbench(
        postgres_url, clients=scale.pgbench_clients, seconds=scale.pgbench_seconds
    )
    say("baseline: redis-benchmark PUBLISH")
    result.baselines["publish"] = await baselines.redis_publish(redis_url)
    for baseline in result.baselines.values():
        say(f"  {baseline.name}: {baseline.per_second:,.0f}/s")


async def _ceiling(scale: Scale, workloads: tuple[str, ...]) -> Ceiling:
    say("ceiling: the bare WebSocket broadcast server")
    deployment = await ceiling.start(OUT / "logs")
    found = Ceiling(" ".join(deployment.servers[0].command[1:]))
    runs = {
        "W3": lambda: ceiling.idle(deployment, scale.w3_steps),
        "W2": lambda: ceiling.fan_out(
            deployment,
            subscribers=scale.w2_subscribers,
            rate=scale.w2_rate,
            duration=scale.w2_seconds,
        ),
    }
    try:
        for name, workload in runs.items():
            if name not in workloads:
                continue
            say(f"ceiling: {name}")
            try:
                setattr(found, name.lower(), await workload())
            except Exception as exc:  # reported; Tandem's own figures still run
                found.failures[name] = f"{type(exc).__name__}: {exc}"
                say(f"ceiling: {name} FAILED: {found.failures[name]}")
    finally:
        await deployment.stop()
    return found


async def _mode(
    scale: Scale,
    mode: str,
    database_url: str,
    broadcast_url: str,
    count: int,
    workloads: tuple[str, ...],
    r1_operations: tuple[str, ...],
) -> ModeResults:
    say(f"{mode}: starting {count} server(s)")
    deployment = await servers.start(mode, database_url, broadcast_url, count, OUT / "logs")
    found = ModeResults(mode, [" ".join(s.command[1:]) for s in deployment.servers])
    try:
        users = await register_users(deployment)
        for name, workload in _workloads(scale, deployment, users, r1_operations).items():
            if name not in workloads:
                continue
            say(f"{mode}: {name}")
            try:
                setattr(found, name.lower(), await workload())
            except Exception as exc:  # one failed workload must not cost the others' figures
                found.failures[name] = f"{type(exc).__name__}: {exc}"
                say(f"{mode}: {name} FAILED: {found.failures[name]}")
    finally:
        await deployment.stop()
    return found


def _workloads(
    scale: Scale, deployment: Deployment, users: Users, r1_operations: tuple[str, ...]
) -> dict[str, Callable[[], Awaitable[Any]]]:
    """W3 first: per-connection memory is read on a server whose heap has not grown yet."""
    return {
        "W3": lambda: connections.run(
            deployment, users, steps=scale.w3_steps, events=scale.w3_events
        ),
        "W1": lambda: _w1(scale, deployment, users, scale.w1_seconds),
        "W2": lambda: _w2(scale, deployment, users, scale.w2_seconds),
        "R1": lambda: rest.run(
            deployment,
            events=scale.r1_events,
            seconds=scale.r1_seconds,
            concurrency=scale.r1_concurrency,
            only=r1_operations,
        ),
    }


def _w1(scale: Scale, deployment: Deployment, users: Users, seconds: float) -> Any:
    return edits.run(
        deployment,
        users,
        events=scale.w1_events,
        subscribers=scale.w1_subscribers,
        duration=seconds,
    )


def _w2(scale: Scale, deployment: Deployment, users: Users, seconds: float) -> Any:
    return edits.run(
        deployment,
        users,
        events=1,
        subscribers=scale.w2_subscribers,
        duration=seconds,
        rate=scale.w2_rate,
    )


async def _profile(
    scale: Scale, mode: str, workload: str, postgres_url: str, redis_url: str
) -> Profile:
    """One workload again, with the (first) server under pyinstrument."""
    say(f"profile: {workload} in {mode} mode, {scale.profile_seconds:.0f} s")
    session = OUT / f"profile-{mode}-{workload.lower()}.pyisession"
    if mode == "embedded":
        urls, count = (_sqlite_url(), "memory://"), 1
    else:
        await _fresh_database(postgres_url)
        urls, count = (postgres_url, redis_url), 2
    deployment = await servers.start(mode, *urls, count, OUT / "logs", profile=session)
    try:
        users = await register_users(deployment)
        if workload == "R1":
            await _r1_views(scale, deployment)
        else:
            run_workload = _w1 if workload == "W1" else _w2
            await run_workload(scale, deployment, users, scale.profile_seconds)
    finally:
        await deployment.stop()
    profiling.render(session)
    return Profile(f"{workload}, {mode}", session, profiling.summarise(session))


async def _r1_views(scale: Scale, deployment: Deployment) -> Any:
    """R1's calendar reads only: what a profile of the window code should see."""
    return await rest.run(
        deployment,
        events=scale.r1_events,
        seconds=scale.profile_seconds,
        concurrency=scale.r1_concurrency,
        only=("list one month", "list one month, expanded", "month conflicts"),
    )


def _sqlite_url() -> str:
    folder = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    return f"sqlite:///{folder / 'bench.db'}"


async def _fresh_database(database_url: str) -> None:
    """Drop and create the bench's own database, so a run never sees another's rows."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise RuntimeError(f"refusing to drop database {name!r}: its name must contain 'bench'")
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")), timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
