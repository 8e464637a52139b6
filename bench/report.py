"""RESULTS.md: the machine, the commands, every figure per mode, the ratios, the goals."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench.runner import ModeResults, Run
from bench.stats import Latency
from bench.workloads.edits import EditsResult
from bench.workloads.rest import Operation
from bench.workloads.sync import SyncResult, SyncTiming

# What people concluded from the figures and profiles; kept by hand, shown as it is.
READING = Path(__file__).resolve().parent / "READING.md"
# The goals of issue 12 that one run of `make bench` can judge (the W1 one against
# ShareDB needs the peers harness, ../shared/peers).
W1_CPU_MS_PER_ACK = 0.5
W2_P99_MS = 25.0
W3_BYTES_PER_CONNECTION = 13_000  # 13 KB


def write(run: Run, path: Path, notes: list[str]) -> None:
    path.write_text(render(run, notes))


def render(run: Run, notes: list[str]) -> str:
    lines = ["# Tandem benchmark results", ""]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run.started))
    minutes = (run.finished - run.started) / 60
    lines += [
        f"Measured {when} by `{run.command}` ({minutes:.0f} min). Written by bench/report.py.",
        "",
    ]
    lines += _machine(run, notes)
    lines += _commands(run)
    lines += _summary(run)
    lines += _goals(run)
    lines += _details(run)
    lines += _profiles(run)
    if READING.exists():
        lines += ["## Reading (bench/READING.md, by hand)", "", READING.read_text().strip(), ""]
    return "\n".join(lines) + "\n"


def _machine(run: Run, notes: list[str]) -> list[str]:
    lines = ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in run.machine.items()]
    lines += [f"| load average (1/5/15 min) before, after | {run.load_before}; {run.load_after} |"]
    lines += [""] + [f"- {note}" for note in notes] + [f"- {p}" for p in run.problems] + [""]
    return lines


def _commands(run: Run) -> list[str]:
    lines = ["## Commands", "", f"- the run: `{run.command}`"]
    for mode in run.modes:
        for command in mode.commands:
            lines.append(f"- {mode.mode} server: `python {command}` (= `tandem serve`)")
    lines.append(
        "- server environment: `AUTH_RATE_PER_IP`, `AUTH_RATE_PER_USERNAME`, "
        "`API_RATE_PER_USER` and `WS_OP_RATE` all `1000000/second`; `ACCESS_TOKEN_TTL=7200`; "
        "a random `BROADCAST_NAMESPACE`; distributed: `tandem migrate` first, a fresh "
        "database `tandem_bench`, Redis db 0"
    )
    for baseline in run.baselines.values():
        lines.append(f"- baseline, {baseline.name}: `{baseline.command}`")
    if run.ceiling:
        lines.append(f"- ceiling, bare WebSocket broadcast server: `python {run.ceiling.command}`")
    lines.append(
        "- load generator: one asyncio process (uvloop) driving the `websockets` sans-I/O "
        "protocol, without compression; `httpx` for REST; all on 127.0.0.1"
    )
    return [*lines, ""]


Figure = Callable[[ModeResults], str]


def _summary(run: Run) -> list[str]:
    pgbench = run.baselines.get("pgbench")
    publish = run.baselines.get("publish")

    def edits(name: str, get: Callable[[EditsResult], str]) -> Figure:
        def figure(mode: ModeResults) -> str:
            result = getattr(mode, name)
            if result is None:
                return "failed" if name.upper() in mode.failures else "not run"
            return get(result)

        return figure

    def check(r: EditsResult) -> str:
        c = r.check
        return f"{c.lost} / {c.duplicated} / {c.reordered} over {c.streams} streams"

    pg = pgbench.per_second if pgbench else None
    pub = publish.per_second if publish else None
    bare = run.ceiling.w2 if run.ceiling else None
    bare_p99 = bare.delivery_latency.p99 if bare else None
    bare_cpu = _cpu_us(bare.cpu.server, bare.duration, bare.deliveries) if bare else None
    rows: list[tuple[str, Figure]] = [
        ("W1 acks/s (÷ pgbench tps)", edits("w1", lambda r: _rate(r.acks_per_s, pg))),
        (
            "W1 server CPU per acked edit, with its deliveries (ms)",
            edits("w1", lambda r: f"{_cpu_us(r.cpu.server, r.duration, r.acks) / 1000:.2f}"),
        ),
        ("W1 deliveries/s", edits("w1", lambda r: _rate(r.deliveries_per_s, None))),
        ("W1 ack latency p50 / p99 ms", edits("w1", lambda r: _ms(r.ack_latency))),
        ("W1 delivery latency p50 / p99 ms", edits("w1", lambda r: _ms(r.delivery_latency))),
        ("W1 lost / duplicated / reordered", edits("w1", check)),
        (
            "W2 delivery latency p50 / p99 / max ms",
            edits("w2", lambda r: _ms(r.delivery_latency, with_max=True)),
        ),
        (
            "W2 delivery latency p99 (÷ bare server's)",
            edits("w2", lambda r: _ratio(r.delivery_latency.p99, bare_p99, "{:.1f} ms")),
        ),
        (
            "W2 deliveries/s (÷ redis PUBLISH/s)",
            edits("w2", lambda r: _rate(r.deliveries_per_s, pub)),
        ),
        (
            "W2 server CPU per delivered frame (÷ bare server's)",
            edits(
                "w2",
                lambda r: _ratio(
                    _cpu_us(r.cpu.server, r.duration, r.deliveries), bare_cpu, "{:.1f} µs"
                ),
            ),
        ),
        ("W2 writer ops/s (target 50)", edits("w2", lambda r: f"{r.acks_per_s:.1f}")),
        ("W2 lost / duplicated / reordered", edits("w2", check)),
    ]
    steps = {step.connections for m in run.modes if m.w3 for step in m.w3.steps}
    bare_steps = (
        {s.connections: s for s in run.ceiling.w3.steps} if run.ceiling and run.ceiling.w3 else {}
    )
    for count in sorted(steps):
        base = bare_steps.get(count)
        rows.append(
            (
                f"W3 server RSS per connection at {count:,} (÷ bare server's)",
                _w3(count, base.per_connection if base else None),
            )
        )
    operations = [op.name for m in run.modes if m.r1 for op in m.r1.operations]
    for name in dict.fromkeys(operations):
        rows.append((f"R1 {name}: req/s (÷ get), p50 / p99 ms", _r1(name)))
        rows.append((f"R1 {name}, one at a time: p50 ms (÷ get)", _r1_alone(name)))
    rows += [
        ("R1 first sync, pages of 500: total s", _sync(lambda s: s.first)),
        ("R1 incremental sync after 1,000 changes: total s", _sync(lambda s: s.incremental)),
    ]
    header = "| figure | " + " | ".join(m.mode for m in run.modes) + " |"
    lines = ["## Summary", "", header, "|---|" + "---|" * len(run.modes)]
    lines += [f"| {label} | " + " | ".join(get(m) for m in run.modes) + " |" for label, get in rows]
    if run.baselines:
        measured = "; ".join(f"{b.name} {b.per_second:,.0f}/s" for b in run.baselines.values())
        lines += ["", f"Baselines: {measured}. Ratios (x) are to these, in both modes."]
    lines += _ceiling(run)
    return [*lines, ""]


def _sync(part: Callable[[SyncResult], SyncTiming]) -> Figure:
    def get(mode: ModeResults) -> str:
        if not mode.r1:
            return "failed"
        if mode.r1.sync is None:
            return "not run"
        timing = part(mode.r1.sync)
        return f"{timing.seconds:.2f} ({timing.items:,} items, {timing.pages} pages)"

    return get


def _ceiling(run: Run) -> list[str]:
    """The bare WebSocket server's own figures, which the W2 and W3 ratios divide by."""
    if run.ceiling is None:
        return []
    lines = ["", "Bare WebSocket broadcast server (bench/ceiling.py), same run:"]
    w2, w3 = run.ceiling.w2, run.ceiling.w3
    if w2:
        c = w2.check
        lines.append(
            f"- W2: 1 writer at {w2.rate:.0f} frames/s + {w2.subscribers:,} subscribers, "
            f"{w2.duration:.1f} s: {w2.deliveries:,} deliveries, delivery p50 / p99 / max "
            f"{_ms(w2.delivery_latency, with_max=True)} ms, server CPU "
            f"{_cpu_us(w2.cpu.server, w2.duration, w2.deliveries):.1f} µs per delivered frame "
            f"({w2.cpu.server} cores); lost / duplicated / reordered {c.lost} / "
            f"{c.duplicated} / {c.reordered}"
        )
    if w3:
        for step in w3.steps:
            lines.append(
                f"- W3: {step.connections:,} idle joined connections, "
                f"{step.per_connection / 1000:.1f} KB each"
            )
    lines += [f"- {name} failed: `{failure}`" for name, failure in run.ceiling.failures.items()]
    return lines


def _cpu_us(cores: float, seconds: float, count: int) -> float:
    """Server CPU per item in microseconds, from the cores kept busy over `seconds`."""
    return cores * seconds / count * 1e6 if count else float("nan")


def _ratio(value: float, base: float | None, shape: str) -> str:
    return shape.format(value) + (f" ({value / base:.2f}x)" if base else "")


def _rate(value: float, base: float | None) -> str:
    return f"{value:,.0f}" + (f" ({value / base:.2f}x)" if base else "")


def _ms(latency: Latency, *, with_max: bool = False) -> str:
    text = f"{latency.p50:.1f} / {latency.p99:.1f}"
    return text + (f" / {latency.max:.1f}" if with_max else "")


def _w3(count: int, base: float | None) -> Figure:
    def get(mode: ModeResults) -> str:
        step = next((s for s in mode.w3.steps if s.connections == count), None) if mode.w3 else None
        if step is None:
            return "failed"
        return _ratio(step.per_connection / 1000, base and base / 1000, "{:.1f} KB")

    return get


def _r1_operation(mode: ModeResults, name: str) -> Operation | None:
    return next((o for o in mode.r1.operations if o.name == name), None) if mode.r1 else None


def _r1(name: str) -> Figure:
    def get(mode: ModeResults) -> str:
        op, base = _r1_operation(mode, name), _r1_operation(mode, "get")
        if op is None:
            return "failed"
        errors = f", {op.errors} errors" if op.errors else ""
        ratio = f" ({op.per_second / base.per_second:.3f}x)" if base and base.per_second else ""
        latency = f"{op.latency.p50:.1f} / {op.latency.p99:.1f}"
        return f"{op.per_second:,.0f}{ratio}, {latency}{errors}"

    return get


def _r1_alone(name: str) -> Figure:
    """Latency one request at a time, and how many GETs of one event it is worth."""

    def get(mode: ModeResults) -> str:
        op, base = _r1_operation(mode, name), _r1_operation(mode, "get")
        if op is None:
            return "failed"
        ratio = f" ({op.alone.p50 / base.alone.p50:.1f}x)" if base and base.alone.p50 else ""
        return f"{op.alone.p50:.1f}{ratio}"

    return get


def _goals(run: Run) -> list[str]:
    lines = ["## Goals", "", "| goal | mode | where it stands | |", "|---|---|---|---|"]
    for mode in run.modes:
        if mode.mode == "distributed" and mode.w1:
            ms = _cpu_us(mode.w1.cpu.server, mode.w1.duration, mode.w1.acks) / 1000
            lines.append(
                _goal(
                    "W1 server CPU per acked edit ≤ 0.5 ms",
                    mode.mode,
                    f"{ms:.2f} ms",
                    ms <= W1_CPU_MS_PER_ACK,
                )
            )
        if mode.w2:
            p99 = mode.w2.delivery_latency.p99
            rate = f"{p99:.1f} ms at {mode.w2.acks_per_s:.0f} ops/s (target 50)"
            target = mode.w2.rate_per_writer or 0.0
            held = p99 <= W2_P99_MS and mode.w2.acks_per_s >= 0.98 * target
            lines.append(_goal("W2 50 ops/s, p99 ≤ 25 ms", mode.mode, rate, held))
        if mode.w3 and mode.w3.steps:
            worst = max(s.per_connection for s in mode.w3.steps)
            lines.append(
                _goal(
                    "W3 ≤ 13 KB per connection",
                    mode.mode,
                    f"{worst / 1000:.1f} KB",
                    worst <= W3_BYTES_PER_CONNECTION,
                )
            )
        streams = [r.check for r in (mode.w1, mode.w2) if r is not None]
        if streams:
            bad = sum(c.lost + c.duplicated + c.reordered for c in streams)
            lines.append(
                _goal(
                    "no lost, duplicated or reordered delivery",
                    mode.mode,
                    f"{bad} bad of {sum(c.streams for c in streams)} streams",
                    bad == 0,
                )
            )
    return [*lines, ""]  # fmt: skip


def _goal(goal: str, mode: str, value: str, met: bool) -> str:
    return f"| {goal} | {mode} | {value} | {'pass' if met else '**miss**'} |"


def _details(run: Run) -> list[str]:
    lines = ["## Details", ""]
    for mode in run.modes:
        lines += [f"### {mode.mode}", ""]
        for name, failure in mode.failures.items():
            lines.append(f"- {name} failed: `{failure}`")
        for name, r in (("W1", mode.w1), ("W2", mode.w2)):
            if r is None:
                continue
            pace = (
                f"{r.rate_per_writer:.0f} ops/s each"
                if r.rate_per_writer
                else "next op after each ack"
            )
            lines.append(
                f"- {name}: {r.events} event(s), 1 writer + {r.subscribers_per_event} "
                f"subscribers each, {pace}, {r.duration:.1f} s: {r.acks:,} acks, "
                f"{r.deliveries:,} deliveries, "
                f"{r.errors} errors; CPU busy: servers {r.cpu.server} cores, load generator "
                f"{r.cpu.generator} cores"
            )
            lines += [f"  - {problem}" for problem in r.check.problems]
        if mode.w3:
            w3 = mode.w3
            lines.append(
                f"- W3: {w3.events} events, RSS before {w3.baseline_rss / 2**20:.0f} MiB; "
                f"{w3.failed} sockets closed by the server"
            )
            for s in w3.steps:
                lines.append(
                    f"  - {s.connections:,} connections (opened in {s.connect_seconds} s): RSS "
                    f"{s.rss / 2**20:.0f} MiB, {s.per_connection / 1000:.1f} KB each, "
                    f"{s.marginal / 1000:.1f} KB each of the last step's"
                )
        if mode.r1:
            lines.append(
                f"- R1: {mode.r1.events:,} events of one user, concurrency {mode.r1.concurrency}"
            )
            for op in mode.r1.operations:
                items = f", {op.items} items per page" if op.items else ""
                lines.append(
                    f"  - {op.name}: {op.requests:,} requests in {op.duration:.1f} s, max "
                    f"{op.latency.max:.1f} ms{items}; CPU busy: servers {op.cpu.server}, "
                    f"load generator {op.cpu.generator} cores"
                )
        lines.append("")
    return lines  # fmt: skip


def _profiles(run: Run) -> list[str]:
    if not run.profiles:
        return []
    lines = [
        "## Profile",
        "",
        "Each pass repeats a workload (setup and joins included) with the (first) server "
        "under pyinstrument. Shares are of the busy time (idle waiting left out): by area, "
        "charged to the innermost known library on the stack; by function, to the innermost "
        "Tandem function (its own work plus the library calls it makes). Text and HTML "
        "trees are in bench/out/ (not committed).",
        "",
    ]
    for profile in run.profiles:
        s = profile.summary
        lines += [
            f"### {profile.name}: {s.seconds:.0f} s sampled, {s.busy:.0%} busy "
            f"(`{profile.path.name}`)",
            "",
            "| area (own time) | share of busy |",
            "|---|---|",
        ]
        lines += [f"| {area} | {share:.1%} |" for area, share in s.by_area]
        lines += ["", "| innermost Tandem function | share of busy |", "|---|---|"]
        lines += [f"| `{name}` | {share:.1%} |" for name, share in s.by_function]
        lines.append("")
    return lines
