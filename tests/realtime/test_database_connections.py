"""The server's PostgreSQL connections: named for operators, and replaced when they die."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from storage.database import APPLICATION_NAME, PING_IF_IDLE_FOR
from tests.conftest import admin_connection, fresh_postgres_schema
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
    Edits run on their own asyncpg connections (storage/edit_pool.py): those too."""
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
                ended = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = $1",
                    APPLICATION_NAME,
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
