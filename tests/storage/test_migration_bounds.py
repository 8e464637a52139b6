"""Migration 0002: occurrence bounds for events written before it, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection

from storage.column_types import JSONDocument, UTCDateTime
from storage.database import Database
from storage.migrate import alembic_config, migrate
from storage.recurrence import FAR_FUTURE
from tests.support import register, server_settings, start_server

WRITTEN = datetime(2026, 1, 1, tzinfo=UTC)
# The events table as revision 0001 had it.
OLD_EVENTS = sa.table(
    "events",
    *(sa.column(name, sa.Integer) for name in ("id", "owner_id", "version", "updated_by")),
    *(sa.column(name, sa.String) for name in ("title", "description", "timezone")),
    sa.column("all_day", sa.Boolean),
    *(sa.column(name, JSONDocument) for name in ("recurrence", "metadata")),
    *(
        sa.column(name, UTCDateTime)
        for name in (
            "start_time",
            "end_time",
            "series_start",
            "series_end",
            "created_at",
            "updated_at",
        )
    ),
)
PERMISSIONS = sa.table(
    "permissions",
    *(sa.column(name, sa.Integer) for name in ("event_id", "user_id", "granted_by")),
    sa.column("role", sa.String),
    sa.column("granted_at", UTCDateTime),
)


def _old_event(event_id: int, owner: int, recurrence: list[str]) -> dict[str, object]:
    start, end = datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC)
    return {
        "id": event_id,
        "owner_id": owner,
        "version": 1,
        "updated_by": owner,
        "title": f"old {event_id}",
        "description": "",
        "timezone": "Europe/Paris",
        "all_day": False,
        "recurrence": recurrence,
        "metadata": {},
        "start_time": start,
        "end_time": end,
        "series_start": start,
        "series_end": None if recurrence else end,
        "created_at": WRITTEN,
        "updated_at": WRITTEN,
    }


async def test_upgrade_fills_the_bounds_of_existing_events(database_url: str) -> None:
    """Events stored under 0001 (one-off, bounded and open-ended series) get their bounds
    from 0002, and a window listing over the upgraded rows finds exactly the right ones."""
    server = await start_server(server_settings(database_url=database_url))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            alice = await register(http)
    finally:
        await server.stop()
    database = Database(database_url)
    try:
        async with database.write() as conn:
            await conn.run_sync(_downgrade_to_0001)
        rows = [
            _old_event(1, alice.id, []),
            _old_event(2, alice.id, ["RRULE:FREQ=WEEKLY;COUNT=3"]),
            _old_event(3, alice.id, ["RRULE:FREQ=MONTHLY"]),
        ]
        async with database.write() as conn:
            await conn.execute(OLD_EVENTS.insert(), rows)
            await conn.execute(
                PERMISSIONS.insert(),
                [
                    {
                        "event_id": n,
                        "user_id": alice.id,
                        "granted_by": alice.id,
                        "role": "owner",
                        "granted_at": WRITTEN,
                    }
                    for n in (1, 2, 3)
                ],
            )
        await migrate(database)
        async with database.read() as conn:
            found = (
                await conn.execute(
                    sa.text("SELECT id, first_start, last_end FROM events ORDER BY id")
                )
            ).all()
    finally:
        await database.close()
    bounds = {row.id: (_utc(row.first_start), _utc(row.last_end)) for row in found}
    march_2 = datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert bounds == {
        1: (march_2, datetime(2026, 3, 2, 9, tzinfo=UTC)),
        2: (march_2, datetime(2026, 3, 16, 9, tzinfo=UTC)),
        3: (march_2, FAR_FUTURE),
    }
    server = await start_server(server_settings(database_url=database_url))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            window = {"start": "2026-03-10T00:00:00Z", "end": "2026-04-10T00:00:00Z"}
            listed = await http.get("/api/v1/events", params=window, headers=alice.headers)
    finally:
        await server.stop()
    assert [e["id"] for e in listed.json()["items"]] == [2, 3]


def _downgrade_to_0001(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, "0001")


def _utc(value: datetime | str) -> datetime:
    """Raw SQL hands SQLite's timestamps back as naive text."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
