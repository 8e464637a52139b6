"""Session settings every PostgreSQL connection of the pool starts with."""

from __future__ import annotations

import sqlalchemy as sa

from storage.database import Database
from tests.conftest import fresh_postgres_schema


async def test_postgres_connections_plan_each_statement_in_their_schema() -> None:
    """A generic plan, made with statistics a bulk import left stale, turned the month
    listing into a nested loop that took 300 ms; connections must never cache one."""
    async with fresh_postgres_schema() as url:
        database = Database(url)
        try:
            async with database.read() as conn:
                plan_cache_mode = (await conn.execute(sa.text("SHOW plan_cache_mode"))).scalar()
                search_path = (await conn.execute(sa.text("SHOW search_path"))).scalar()
        finally:
            await database.close()
    assert plan_cache_mode == "force_custom_plan"
    assert search_path == url.rsplit("schema=", 1)[1]
