"""`python -m bench.heap [N]`: where an idle joined socket's memory goes (W3), by owner.

One embedded server runs under tracemalloc (bench/heap_server.py). N idle sockets are
opened and joined (bench/workloads/connections.py's way), a heap snapshot is taken, N
more, another; their difference divided by N is what one more socket costs, grouped by
the module that allocated it (the innermost frame). Under tracemalloc, so RSS figures
are not comparable with W3's: the traced bytes are. RSS was about 1.1-1.3x them here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import tracemalloc
from pathlib import Path

import uvloop

from bench import servers
from bench.api import create_events, http_client, share
from bench.client import Socket, close_all, ignore, open_many
from bench.workloads import register_users

# The owners of an allocation, by a piece of the allocating file's path; first match wins.
OWNERS = [
    (
        "asyncio Queue, Event, timeout (their deques)",
        ("asyncio/locks.py", "asyncio/queues.py", "asyncio/timeouts.py"),
    ),
    ("uvicorn WebSocket protocol: object, scope, ping timer", ("uvicorn/protocols/websockets",)),
    (
        "uvicorn HTTP upgrade, socket addresses",
        ("uvicorn/protocols/http", "uvicorn/protocols/utils"),
    ),
    ("websockets: handshake request and headers, parser", ("site-packages/websockets/",)),
    ("Starlette WebSocket, routing and middleware coroutines", ("site-packages/starlette/",)),
    ("Tandem middleware: request id and origin (context)", ("realtime/http/", "realtime/ops/")),
    ("Tandem socket: Connection, handler, room member, timers", ("realtime/",)),
    ("Principal and user row", ("auth/", "storage/", "aiosqlite", "sqlalchemy", "asyncpg")),
    ("C level: uvloop transport and timers, tasks", ("asyncio/runners.py", "asyncio/events.py")),
]
EVENTS = 20
SETTLE = 2.0


def owner(filename: str) -> str:
    for name, parts in OWNERS:
        if any(part in filename for part in parts):
            return name
    return "other: " + filename.rsplit("/", 1)[-1]


def by_owner(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> dict[str, int]:
    totals: dict[str, int] = {}
    for stat in after.compare_to(before, "traceback"):
        name = owner(stat.traceback[-1].filename)
        totals[name] = totals.get(name, 0) + stat.size_diff
    return totals


async def measure(sockets: int, folder: Path) -> dict[str, int]:
    servers.raise_open_files()
    database = f"sqlite:///{folder / 'heap.db'}"
    servers.TANDEM = [sys.executable, "-m", "bench.heap_server"]
    os.environ["HEAP_SNAPSHOTS"] = str(folder)
    deployment = await servers.start("heap", database, "memory://", 1, folder)
    server = deployment.servers[0]
    opened: list[Socket] = []
    try:
        users = await register_users(deployment)
        async with http_client(deployment.urls[0]) as http:
            events = await create_events(http, users.owner, EVENTS)
            await share(http, users.owner, events, users.viewers, "viewer")
        tokens = [users.owner.token, *(v.token for v in users.viewers)]
        # Step 1 warms the process up (rooms, caches); steps 2 and 3 are compared.
        for step in (1, 2, 3):
            plan = [
                (server.ws_url, tokens[n % len(tokens)], events[n % EVENTS], ignore)
                for n in range(len(opened), step * sockets)
            ]
            opened.extend(socket for socket, _ in await open_many(plan))
            await asyncio.sleep(SETTLE)
            os.kill(server.process.pid, signal.SIGUSR1)
            # Written by the server process: nothing here could set an Event.
            while not (folder / f"{step}.done").exists():  # noqa: ASYNC110
                await asyncio.sleep(0.2)
    finally:
        await close_all(opened)
        await deployment.stop()
    return by_owner(*(tracemalloc.Snapshot.load(str(folder / f"{n}.tm")) for n in (2, 3)))


def main() -> None:
    sockets = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory(prefix="tandem-heap-") as folder:
        totals = uvloop.run(measure(sockets, Path(folder)))
    print(f"| bytes traced per idle joined socket ({2 * sockets:,} -> {3 * sockets:,}) | bytes |")
    print("|---|---|")
    for name, size in sorted(totals.items(), key=lambda item: -item[1]):
        if abs(size) >= 30 * sockets:
            print(f"| {name} | {size / sockets:,.0f} |")
    print(f"| total | {sum(totals.values()) / sockets:,.0f} |")


if __name__ == "__main__":
    main()
