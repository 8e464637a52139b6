"""How PostgreSQL plans the window queries, and what their snapshot sees (storage/snapshot.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from realtime.settings import Settings
from storage import bare_asyncpg
from storage.conflicts import conflicting_pairs
from storage.database import Database
from storage.document import format_time
from storage.events import EventQuery, list_events, list_occurrences
from storage.snapshot import AsyncpgRows, Row, SnapshotRows, read_window, snapshot, within
from tests.conftest import fresh_postgres_schema
from tests.support import create_mornings, register

JUNE = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))


async def test_window_queries_are_planned_for_their_bounds_only() -> None:
    """A generic plan, made with statistics a bulk import left stale, turned the month
    listing into a nested loop that took 300 ms: window queries must never use one,
    and nothing else in the server should pay for planning each run."""
    async with fresh_postgres_schema() as url:
        database = Database(url)
        try:
            async with snapshot(database) as reader:
                assert isinstance(reader, AsyncpgRows)
                await list_events(reader, EventQuery(1, *JUNE))
                assert await _setting(reader, "plan_cache_mode") == "force_custom_plan"
            # An edit's conflict check reads the window inside the edit's transaction.
            async with database.write() as conn:
                assert await plan_cache_mode(conn) == "auto"
                await conflicting_pairs(await within(conn), 1, *JUNE)
                assert await plan_cache_mode(conn) == "force_custom_plan"
            async with database.read() as conn:
                assert await plan_cache_mode(conn) == "auto"
        finally:
            await database.close()


async def test_a_snapshot_is_one_repeatable_read_and_reads_only() -> None:
    """The window's statements see one state of the calendar, and the sync reader's
    READ COMMITTED transactions (`Database.read`) are left as they were."""
    async with fresh_postgres_schema() as url:
        database = Database(url)
        try:
            async with snapshot(database) as reader:
                assert await _setting(reader, "transaction_isolation") == "repeatable read"
                assert await _setting(reader, "transaction_read_only") == "on"
            async with database.read() as conn:
                isolation = await conn.execute(sa.text("SHOW transaction_isolation"))
                assert isolation.scalar_one() == "read committed"
        finally:
            await database.close()


async def _setting(reader: AsyncpgRows, name: str) -> str:
    query = sa.select(sa.func.current_setting(sa.bindparam("name", type_=sa.Text)))
    return str((await reader.rows(query, {"name": name}))[0][0])


async def plan_cache_mode(conn: AsyncConnection) -> str:
    return (await conn.execute(sa.text("SHOW plan_cache_mode"))).scalar_one()


async def test_bare_connections_read_and_write_times_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bare pools decode times themselves (kept per process): every instant comes
    back as the aware UTC datetime it was, before 2000 (PostgreSQL's epoch) and after,
    to the microsecond, and the same again once the kept ones are dropped."""
    monkeypatch.setattr(bare_asyncpg, "KEPT_TIMES", 3)
    instants = [
        datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 0, 0, 1, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),  # storage.recurrence.FAR_FUTURE
    ]
    moment = sa.bindparam("moment", type_=sa.DateTime(timezone=True))
    query = sa.select(moment, sa.cast(sa.func.to_char(moment, sa.literal_column("'US'")), sa.Text))
    async with fresh_postgres_schema() as url:
        database = Database(url)
        try:
            for _ in range(2):
                async with snapshot(database) as reader:
                    for instant in instants:
                        [(back, micros)] = await reader.rows(query, {"moment": instant})
                        assert back == instant and back.tzinfo == UTC
                        assert int(micros) % 1_000_000 == instant.microsecond
        finally:
            await database.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_an_expanded_page_read_across_an_edit_sees_one_state(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """An expanded page reads its window light, then the page's events whole, outside a
    transaction. An edit that commits between the two (here: one event moved from the
    2nd to the 5th) must not give an occurrence of one state and an event of the other:
    the page is read again in one snapshot."""
    alice = await register(client)
    moved, *_ = await create_mornings(client, alice, ["2026-06-02", "2026-06-03", "2026-06-04"])
    readers: list[SnapshotRows] = []

    class EditAfterFirstStatement(SnapshotRows):
        def __init__(self, reader: SnapshotRows) -> None:
            self.reader, self.arrays = reader, reader.arrays
            readers.append(self)

        async def rows(self, statement: sa.Select[Any], params: dict[str, Any]) -> list[Row]:
            found = await self.reader.rows(statement, params)
            if len(readers) == 1:
                response = await client.patch(
                    f"/api/v1/events/{moved['id']}",
                    json=[
                        {"op": "replace", "path": "/start_time", "value": "2026-06-05T09:00:00Z"},
                        {"op": "replace", "path": "/end_time", "value": "2026-06-05T10:00:00Z"},
                    ],
                    headers={**alice.headers, "Content-Type": "application/json-patch+json"},
                )
                assert response.status_code == 200, response.text
            return found

        async def rows_to_check(
            self, statement: sa.Select[Any], params: dict[str, Any]
        ) -> list[Row]:
            return await self.reader.rows_to_check(statement, params)

        def disagreed(self) -> NoReturn:
            self.reader.disagreed()

    database = Database(settings.database_url)
    try:
        page, _ = await read_window(
            database,
            lambda reader: list_occurrences(
                EditAfterFirstStatement(reader), EventQuery(alice.id, *JUNE, limit=10)
            ),
        )
    finally:
        await database.close()
    assert len(readers) == 2  # read again, in a snapshot
    assert [(o.event.id, o.start.day, o.event.document["start_time"]) for o in page][-1] == (
        moved["id"],
        5,
        "2026-06-05T09:00:00Z",
    )
    assert all(format_time(o.start) == o.event.document["start_time"] for o in page)
