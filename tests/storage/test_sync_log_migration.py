"""Migration 0007 drops the sync log's key to users and keeps every position unique:
a cursor taken before it still sees each change made after it, even when pruning had
emptied the log (SQLite rebuilds the table, and must not restart its counter)."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from storage.database import Database
from storage.migrate import downgrade, migrate
from tests.support import (
    Account,
    create_event,
    login,
    register,
    server_settings,
    share,
    start_server,
)
from tests.sync_client import SyncingClient

pytestmark = pytest.mark.timeout(120)


async def _retitle(http: httpx.AsyncClient, owner: Account, event_id: int, title: str) -> None:
    ops = [{"op": "replace", "path": "/title", "value": title}]
    headers = {**owner.headers, "Content-Type": "application/json-patch+json"}
    response = await http.patch(f"/api/v1/events/{event_id}", json=ops, headers=headers)
    assert response.status_code == 200, response.text


async def _foreign_keys(database: Database) -> list[str]:
    def keys(connection: Connection) -> list[str]:
        found = sa.inspect(connection).get_foreign_keys("sync_changes")
        return [key["referred_table"] for key in found]

    async with database.read() as conn:
        return await conn.run_sync(keys)


async def test_a_cursor_from_before_the_migration_sees_the_changes_after_it(
    database_url: str,
) -> None:
    server = await start_server(server_settings(database_url=database_url))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            alice, bob = await register(http), await register(http)
            event_id = (await create_event(http, alice, title="before"))["id"]
            await share(http, alice, event_id, bob, "viewer")
            await _retitle(http, alice, event_id, "edited before")
            bobs_copy = SyncingClient(http, bob.headers)
            await bobs_copy.catch_up()
            assert bobs_copy.copy[event_id]["title"] == "edited before"
    finally:
        await server.stop()

    database = Database(database_url)
    try:
        await downgrade(database, "0006")
        assert await _foreign_keys(database) == ["users"]
        # As pruning past the retention would: the log holds no position any more.
        async with database.write() as conn:
            await conn.execute(sa.text("DELETE FROM sync_changes"))
        await migrate(database)
        assert await _foreign_keys(database) == []
    finally:
        await database.close()

    server = await start_server(server_settings(database_url=database_url))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            alice, bob = await login(http, alice), await login(http, bob)
            await _retitle(http, alice, event_id, "edited after")
            bobs_copy.http, bobs_copy.headers = http, bob.headers
            await bobs_copy.catch_up()
            assert bobs_copy.copy[event_id]["title"] == "edited after"
    finally:
        await server.stop()
