"""How fast is listing one month for a user with 10,000 events (some recurring)?

Starts the real server in this process on a fresh SQLite file (or on DATABASE_URL
when it names PostgreSQL and BENCH_POSTGRES=1), creates the events through
POST /events/batch, then times GET /events for one month window, plain and
expanded. Prints each figure; a progress line goes to stderr while it loads.

    .venv/bin/python -m bench.list_month [--events 10000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from realtime.settings import Settings
from storage.database import Database
from storage.migrate import migrate

SECRET = "bench-secret-key-that-is-long-enough-for-hs256-0123456789"


def documents(count: int) -> list[dict]:
    """Events spread over two years; every tenth one recurs weekly for a year."""
    start = datetime(2026, 1, 1, 8, tzinfo=UTC)
    docs = []
    for n in range(count):
        begin = start + timedelta(hours=(n * 7) % (2 * 365 * 24))
        doc = {
            "title": f"Event {n}",
            "start_time": begin.isoformat().replace("+00:00", "Z"),
            "end_time": (begin + timedelta(minutes=45)).isoformat().replace("+00:00", "Z"),
            "timezone": "Europe/Paris",
        }
        if n % 10 == 0:
            doc["recurrence"] = ["RRULE:FREQ=WEEKLY;COUNT=52"]
        docs.append(doc)
    return docs


async def timed(http: httpx.AsyncClient, rounds: int, **params: str) -> tuple[list[float], int]:
    samples, items = [], 0
    for _ in range(rounds):
        began = time.perf_counter()
        response = await http.get("/api/v1/events", params=params)
        samples.append(time.perf_counter() - began)
        response.raise_for_status()
        items = len(response.json()["items"])
    return samples, items


async def main(events: int, rounds: int) -> None:
    from tests.support import start_server  # the same in-process server the tests use

    folder = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    database = Database(url)
    await migrate(database)
    await database.close()
    server = await start_server(Settings(database_url=url, secret_key=SECRET))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
            account = await http.post(
                "/api/v1/auth/register",
                json={"username": "bench", "email": "bench@example.com", "password": "password1"},
            )
            http.headers["Authorization"] = f"Bearer {account.json()['access_token']}"
            docs = documents(events)
            for first in range(0, events, 500):
                created = await http.post(
                    "/api/v1/events/batch", json={"events": docs[first : first + 500]}
                )
                created.raise_for_status()
                print(f"loaded {first + 500}/{events} events", file=sys.stderr, end="\r")
            print(file=sys.stderr)
            month = {"start": "2026-06-01T00:00:00Z", "end": "2026-07-01T00:00:00Z", "limit": "200"}
            for label, params in (("list", month), ("expand", {**month, "expand": "true"})):
                samples, items = await timed(http, rounds, **params)
                print(
                    f"{label:6} one month of {events} events ({items} items on the first page): "
                    f"p50 {statistics.median(samples) * 1000:.1f} ms, "
                    f"max {max(samples) * 1000:.1f} ms over {rounds} requests"
                )
    finally:
        await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rounds))
