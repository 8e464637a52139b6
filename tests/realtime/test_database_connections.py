"""The server's PostgreSQL connections: named for operators, and replaced when they die."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from storage.database import APPLICATION_NAME, PING_IF_IDLE_FOR
from tests.conftest import POSTGRES_URL, admin_connection, fresh_postgres_schema
from tests.support import (
    Account,
    create_event,
    register,
    server_settings,
    start_server,
    title_ops,
)

pytestmark = pytest.mark.timeout(60)


async def test_idle_connections_killed_by_postgres_are_replaced_unnoticed() -> None:
    """PostgreSQL restarted, or an operator ended the backends: once the pool's
    connections have been idle a while, the next requests get fresh ones, not a 503.
    Edits run on their own asyncpg connections (storage/bare_asyncpg.py): those too."""
    async with fresh_postgres_schema() as url:
        running = await start_server(server_settings(database_url=url))
        admin = await admin_connection()
        try:
            async with httpx.AsyncClient(base_url=running.url) as http:
                owner = await register(http)
                # Several pooled connections of both kinds, as under load.
                created = await asyncio.gather(*(create_event(http, owner) for _ in range(5)))
                ids = [event["id"] for event in created]
                await asyncio.gather(*(_retitle(http, owner, n, "before") for n in ids))
                await asyncio.sleep(PING_IF_IDLE_FOR + 0.2)
                # Only this server's: the PostgreSQL is shared with other tests and runs.
                ended = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = $1 AND client_port = ANY($2::int[])",
                    APPLICATION_NAME,
                    connected_from(admin_port()),
                )
                assert ended >= 1, "the server's connections are not named"
                for attempt in range(3):
                    listed = await http.get("/api/v1/events", headers=owner.headers)
                    assert listed.status_code == 200, listed.text
                    assert len(listed.json()["items"]) == 5
                    await asyncio.gather(
                        *(_retitle(http, owner, n, f"after {attempt}") for n in ids)
                    )
        finally:
            await admin.close()
            await running.stop()


async def _retitle(http: httpx.AsyncClient, owner: Account, event_id: int, title: str) -> None:
    response = await http.patch(
        f"/api/v1/events/{event_id}",
        json=title_ops(title),
        headers={**owner.headers, "Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text


def admin_port() -> int:
    return make_url(POSTGRES_URL).port or 5432


def connected_from(server_port: int) -> list[int]:
    """The local ports of this process's TCP connections to `server_port` (Linux /proc)."""
    fds = Path("/proc/self/fd")
    inodes = set()
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as lines:
            for line in itertools.islice(lines, 1, None):
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == server_port:
                    ports.append(int(local.rsplit(":", 1)[1], 16))
    return ports
