"""The ceilings each figure is divided by, measured in the same run on the same machine.

- pgbench running one transaction equivalent to an edit (lock the event row, insert
  the version, update the event) on tables shaped like Tandem's: the database ceiling
  for W1.
- redis-benchmark PUBLISH of a payload the size of a patch message: the broadcast
  ceiling for W2.
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

EDIT_ROWS = 100  # as many events as W1 edits
SNAPSHOT = (
    '{"title": "Event", "description": "", "location": null, "start_time": '
    '"2026-01-01T08:00:00Z", "end_time": "2026-01-01T08:45:00Z", "timezone": '
    '"Europe/Paris", "all_day": false, "recurrence": [], "metadata": {}}'
)
EDIT_SCRIPT = """\
\\set id random(1, {rows})
BEGIN;
SELECT version FROM bench_edit_event WHERE id = :id FOR UPDATE;
INSERT INTO bench_edit_version (event_id, version, ops, snapshot, at)
  SELECT id, version + 1, '[{{"op": "add", "path": "/metadata/bench", "value": {{"n": 1}}}}]',
         document, now()
  FROM bench_edit_event WHERE id = :id;
UPDATE bench_edit_event SET version = version + 1, updated_at = now() WHERE id = :id;
END;
"""
PUBLISH_PAYLOAD = "x" * 250  # about a W2 patch message


@dataclass(frozen=True)
class Baseline:
    name: str
    per_second: float
    command: str


def find_tool(name: str) -> str | None:
    """On PATH, or in Debian's versioned PostgreSQL directory."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


async def pgbench(database_url: str, *, clients: int, seconds: int) -> Baseline:
    tool = find_tool("pgbench")
    if tool is None:
        raise RuntimeError("pgbench not found (Debian: apt-get install postgresql-client)")
    url = urlsplit(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"""
            DROP TABLE IF EXISTS bench_edit_version, bench_edit_event;
            CREATE TABLE bench_edit_event (
                id int PRIMARY KEY, version int NOT NULL, document jsonb NOT NULL,
                updated_at timestamptz NOT NULL);
            CREATE TABLE bench_edit_version (
                event_id int NOT NULL REFERENCES bench_edit_event(id), version int NOT NULL,
                ops jsonb NOT NULL, snapshot jsonb NOT NULL, at timestamptz NOT NULL,
                PRIMARY KEY (event_id, version));
            INSERT INTO bench_edit_event
                SELECT n, 1, '{SNAPSHOT}'::jsonb, now() FROM generate_series(1, {EDIT_ROWS}) n;
            """
        )
    finally:
        await conn.close()
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(EDIT_SCRIPT.format(rows=EDIT_ROWS))
    command = [
        tool, "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
        "-f", script.name, "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432),
        "-U", url.username or "postgres", url.path.lstrip("/"),
    ]  # fmt: skip
    try:
        output = await _run(command)
    finally:
        os.unlink(script.name)
    match = re.search(r"tps = ([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"no tps in pgbench's output:\n{output}")
    shown = " ".join(command).replace(script.name, "edit.sql")
    return Baseline("pgbench edit transaction", float(match.group(1)), shown)


async def redis_publish(redis_url: str, *, requests: int = 200_000) -> Baseline:
    tool = find_tool("redis-benchmark")
    if tool is None:
        raise RuntimeError("redis-benchmark not found (Debian: apt-get install redis-tools)")
    url = urlsplit(redis_url)
    command = [
        tool, "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 6379),
        "-c", "50", "-n", str(requests), "--csv", "PUBLISH", "tandem-bench-baseline",
        PUBLISH_PAYLOAD,
    ]  # fmt: skip
    output = await _run(command)
    for row in csv.reader(output.splitlines()):
        if len(row) > 1 and row[0].startswith("PUBLISH"):
            shown = " ".join(command).replace(PUBLISH_PAYLOAD, "<250 bytes>")
            return Baseline("redis-benchmark PUBLISH", float(row[1]), shown)
    raise RuntimeError(f"no PUBLISH rate in redis-benchmark's output:\n{output}")


async def _run(command: list[str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed ({process.returncode}):\n{text}")
    return text
