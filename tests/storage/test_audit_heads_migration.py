"""Migration 0009 gives the events deleted before it the audit head that deleting one
now keeps, so `tandem audit verify` finds a record removed from the end of their chain."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from storage.database import Database
from storage.migrate import downgrade, migrate
from tests.processes import base_env, tandem
from tests.support import create_event, register, server_settings, start_server

pytestmark = pytest.mark.timeout(120)


async def _event_heads(database: Database) -> dict[str, str]:
    async with database.read() as conn:
        query = sa.text("SELECT chain, hash FROM audit_heads WHERE chain LIKE 'event:%'")
        return {row.chain: row.hash for row in await conn.execute(query)}


async def _newest_hash(database: Database, chain: str) -> str:
    async with database.read() as conn:
        query = sa.text(
            "SELECT hash FROM audit_records WHERE chain = :chain ORDER BY seq DESC LIMIT 1"
        )
        return str((await conn.execute(query, {"chain": chain})).scalar_one())


async def test_events_deleted_before_the_migration_get_their_heads(
    database_url: str, tmp_path: Path
) -> None:
    """After the upgrade an event deleted before it has its chain's newest hash as head,
    a live one none there, and removing the deletion record makes verify exit 1."""
    server = await start_server(server_settings(database_url=database_url))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            alice = await register(http)
            gone = (await create_event(http, alice, title="deleted"))["id"]
            kept = (await create_event(http, alice, title="kept"))["id"]
            deleted = await http.delete(f"/api/v1/events/{gone}", headers=alice.headers)
            assert deleted.status_code == 204, deleted.text
    finally:
        await server.stop()

    database = Database(database_url)
    env = base_env(DATABASE_URL=database_url, SECRET_KEY="k" * 40)
    try:
        # Before the migration a deletion kept no head: as if the event went then.
        await downgrade(database, "0008")
        assert await _event_heads(database) == {}
        await migrate(database)
        assert await _event_heads(database) == {
            f"event:{gone}": await _newest_hash(database, f"event:{gone}")
        }
        intact = tandem("audit", "verify", env=env, cwd=tmp_path)
        assert intact.returncode == 0, intact.stderr
        async with database.write() as conn:
            await conn.execute(
                sa.text(
                    "DELETE FROM audit_records WHERE chain = :chain AND action = 'event_delete'"
                ),
                {"chain": f"event:{gone}"},
            )
    finally:
        await database.close()
    broken = tandem("audit", "verify", env=env, cwd=tmp_path)
    assert broken.returncode == 1, broken.stdout
    assert f"chain event:{gone}: its newest record is missing" in broken.stderr
    assert f"event:{kept}" not in broken.stderr
