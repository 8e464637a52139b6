"""The calendar window's reads: statements that see one snapshot, sent the cheapest way.

A listing page is several statements (a page and the rows after it, or the window's
series and then the page's events whole), and a reader must never see two states of
the calendar in one answer. On PostgreSQL they run on a bare asyncpg connection in a
REPEATABLE READ transaction (`Database.snapshot`): through SQLAlchemy's pool,
transaction and execute path the same reads cost a month listing several round trips
and about a millisecond of CPU more (bench/READING.md). Elsewhere (SQLite, whose read
transaction is a snapshot already, and a conflict check inside an edit's transaction)
the same statements go through SQLAlchemy. One spelling of the SQL, two ways to send it.
The use cases go through `read_window`, which sends a read outside a transaction when it
can be answered so (one statement, or a second one checked against the first) and in a
snapshot transaction when not.

JSON columns are selected as text (`as_text`): a window's rows are read for a few of
their fields, and the callers decode what they use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bare_asyncpg import compiled
from storage.database import Database

Row = Sequence[Any]
T = TypeVar("T")
# A window's statement: one SELECT, or a UNION ALL of them.
Query = sa.Select[Any] | sa.CompoundSelect

# What an edit's transaction sets before a window query (a snapshot's connection is
# set up so once, SNAPSHOT_SETTINGS): see storage.database.
_PLAN_FOR_THESE_BOUNDS = sa.text("SET LOCAL plan_cache_mode = force_custom_plan")


class SnapshotRows(ABC):
    """Runs a statement in the caller's snapshot; rows by position, in select order."""

    # Whether a list binds as one array parameter (asyncpg), or as an expanding IN.
    arrays = False

    @abstractmethod
    async def rows(self, statement: Query, params: dict[str, Any]) -> list[Row]: ...

    async def rows_to_check(self, statement: Query, params: dict[str, Any]) -> list[Row]:
        """A later statement of a read that checks its rows against the earlier ones'
        and calls `disagreed()` when they differ. In one snapshot they never do."""
        return await self.rows(statement, params)

    def disagreed(self) -> NoReturn:
        raise AssertionError("the statements of one snapshot cannot disagree")


class _AgainInSnapshot(Exception):
    """A read begun outside a transaction needs one snapshot for its statements."""


async def read_window(database: Database, read: Callable[[SnapshotRows], Awaitable[T]]) -> T:
    """`read` in one snapshot, sending no more than it needs.

    On PostgreSQL `read` first runs outside a transaction, where each statement sees a
    snapshot of its own: BEGIN and COMMIT cost two round trips more (bench/READING.md),
    and a month's page is nearly always one statement. A second statement is refused,
    unless the read checks what it answers (`rows_to_check`: an expanded page's events
    read whole must be the versions its light rows had). When one is refused or
    disagrees, `read` runs again, whole, in a snapshot transaction.
    """
    if not database.is_sqlite:
        async with database.snapshot_statement() as raw:
            try:
                return await read(_Separate(raw))
            except _AgainInSnapshot:
                pass
    async with snapshot(database) as reader:
        return await read(reader)


@asynccontextmanager
async def snapshot(database: Database) -> AsyncIterator[SnapshotRows]:
    """A read transaction for the window's statements: one snapshot for all of them."""
    if database.is_sqlite:
        async with database.read() as conn:
            yield CoreRows(conn)
        return
    async with database.snapshot() as raw:
        yield AsyncpgRows(raw)


async def within(conn: AsyncConnection) -> SnapshotRows:
    """The window's statements inside a transaction the caller already holds (an edit's
    conflict check), planned for their bounds as a snapshot's are."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_PLAN_FOR_THESE_BOUNDS)
    return CoreRows(conn)


class CoreRows(SnapshotRows):
    """Through SQLAlchemy, on either database."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def rows(self, statement: Query, params: dict[str, Any]) -> list[Row]:
        return list(await self._conn.execute(statement, params))


class AsyncpgRows(SnapshotRows):
    """PostgreSQL: the statement compiled for asyncpg once, on a bare connection."""

    arrays = True

    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw

    async def rows(self, statement: Query, params: dict[str, Any]) -> list[Row]:
        sql, names = compiled(statement)
        return cast(list[Row], await self._raw.fetch(sql, *[params[n] for n in names]))


class _Separate(AsyncpgRows):
    """PostgreSQL outside a transaction: one statement, then only checked ones."""

    def __init__(self, raw: asyncpg.Connection) -> None:
        super().__init__(raw)
        self._sent = False

    async def rows(self, statement: Query, params: dict[str, Any]) -> list[Row]:
        if self._sent:
            raise _AgainInSnapshot
        self._sent = True
        return await super().rows(statement, params)

    async def rows_to_check(self, statement: Query, params: dict[str, Any]) -> list[Row]:
        return await AsyncpgRows.rows(self, statement, params)

    def disagreed(self) -> NoReturn:
        raise _AgainInSnapshot


def as_text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """A JSON column as its text (PostgreSQL's jsonb text, SQLite's stored text)."""
    return sa.cast(column, sa.Text).label(column.key if hasattr(column, "key") else None)
