"""How PostgreSQL plans the window queries (see storage/events.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.conflicts import conflicting_pairs
from storage.database import Database
from storage.events import EventQuery, list_events
from tests.conftest import fresh_postgres_schema

JUNE = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))


async def test_window_queries_are_planned_for_their_bounds_only() -> None:
    """A generic plan, made with statistics a bulk import left stale, turned the month
    listing into a nested loop that took 300 ms: window queries must never use one,
    and nothing else in the transaction's connection should pay for planning each run."""
    async with fresh_postgres_schema() as url:
        database = Database(url)
        try:
            for window_query in (
                lambda conn: list_events(conn, EventQuery(1, *JUNE)),
                lambda conn: conflicting_pairs(conn, 1, *JUNE),
            ):
                async with database.read() as conn:
                    assert await plan_cache_mode(conn) == "auto"
                    await window_query(conn)
                    assert await plan_cache_mode(conn) == "force_custom_plan"
            async with database.read() as conn:
                assert await plan_cache_mode(conn) == "auto"
        finally:
            await database.close()


async def plan_cache_mode(conn: AsyncConnection) -> str:
    return (await conn.execute(sa.text("SHOW plan_cache_mode"))).scalar_one()
