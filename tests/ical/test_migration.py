"""Migration 0003 on a database that already holds events (both databases)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from storage.column_types import UTCDateTime
from storage.database import Database
from storage.migrate import migrate
from tests.conftest import POSTGRES_URL, admin_connection, require_service

pytestmark = pytest.mark.timeout(60)

USER = (
    "INSERT INTO users (id, username, username_key, email, email_key, password_hash, created_at)"
    " VALUES (1, 'alice', 'alice', 'a@example.com', 'a@example.com', 'x', :at)"
)
EVENT = (
    "INSERT INTO events (id, owner_id, version, title, description, location, start_time,"
    " end_time, timezone, all_day, recurrence, metadata, series_start, series_end,"
    " created_at, updated_at, updated_by) VALUES (:id, 1, 1, 'old', '', NULL, :at, :end,"
    " 'UTC', false, '[]', '{}', :at, :end, :at, :at, 1)"
)

PERMISSION = (
    "INSERT INTO permissions (event_id, user_id, role, granted_by, granted_at)"
    " VALUES (:id, 1, 'owner', 1, :at)"
)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_at_0001(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Database]:
    """A database migrated to revision 0001 only."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'old.db'}")
        await migrate(database, "0001")
        yield database
        await database.close()
        return
    await require_service("postgres")
    schema = f"t_{secrets.token_hex(6)}"
    admin = await admin_connection()
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    database = Database(f"{POSTGRES_URL}{separator}schema={schema}")
    try:
        await migrate(database, "0001")
        yield database
    finally:
        await database.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def test_existing_events_get_a_uid_and_no_overrides(database_at_0001: Database) -> None:
    """Events written before 0003 come out of it with distinct `<uuid>@tandem` UIDs and
    empty overrides, their permissions intact (a SQLite table rebuild would cascade
    them away); the UID is then unique per owner."""
    at, end = datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC)
    times = [sa.bindparam("at", type_=UTCDateTime), sa.bindparam("end", type_=UTCDateTime)]
    async with database_at_0001.write() as conn:
        await conn.execute(sa.text(USER).bindparams(times[0]), {"at": at})
        for event_id in (1, 2):
            await conn.execute(
                sa.text(EVENT).bindparams(*times), {"id": event_id, "at": at, "end": end}
            )
            await conn.execute(sa.text(PERMISSION).bindparams(times[0]), {"id": event_id, "at": at})
    await migrate(database_at_0001)
    async with database_at_0001.read() as conn:
        rows = (await conn.execute(sa.text("SELECT uid, overrides FROM events ORDER BY id"))).all()
        kept = (await conn.execute(sa.text("SELECT count(*) FROM permissions"))).scalar()
    assert kept == 2
    uids = [row.uid for row in rows]
    assert len(set(uids)) == 2 and all(uid.endswith("@tandem") for uid in uids)
    assert [row.overrides in ({}, "{}") for row in rows] == [True, True]
    with pytest.raises(sa.exc.IntegrityError):
        async with database_at_0001.write() as conn:
            await conn.execute(sa.text("UPDATE events SET uid = :uid"), {"uid": uids[0]})
