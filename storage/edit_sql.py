"""The edit engine's statements, on the connection the engine runs on.

Every database and every change can run them through SQLAlchemy (`CoreEditSql`). A
live edit runs the very same statements, compiled once, on a bare connection: asyncpg
on PostgreSQL (`AsyncpgEditSql`, storage/bare_asyncpg.py says why), sqlite3 in the event
loop's thread on SQLite (`SqliteEditSql`). One spelling of the SQL, three ways to send it.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import cache
from typing import Any, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bare_asyncpg import compiled
from storage.database import Database
from storage.direct_sqlite import DirectStatement, direct_statement
from storage.records import VersionRecord, version_record
from storage.tables import audit_records, event_versions, events, permissions

# Built once, not per edit: constructing statements cost the edit more CPU than
# running them (the W1 profile in bench/RESULTS.md).
_INSERT_VERSION = event_versions.insert()
_VERSION_WITH_OP_ID = sa.select(event_versions).where(
    event_versions.c.event_id == sa.bindparam("event_id"),
    event_versions.c.author_id == sa.bindparam("author_id"),
    event_versions.c.op_id == sa.bindparam("op_id"),
)
_OPS_AFTER = sa.select(event_versions.c.ops).where(
    event_versions.c.event_id == sa.bindparam("event_id"),
    event_versions.c.version > sa.bindparam("version"),
)
# Every column of an audit record but seq, which the database assigns.
_AUDIT_COLUMNS = tuple(column.name for column in audit_records.c if column.name != "seq")


class EditSql(ABC):
    """What the edit engine asks of the database, inside the caller's transaction.

    Each way to send SQL (below) says how to run one statement; the statements and
    what is read from them are the same for all.
    """

    # The SQLAlchemy connection, for the reads only some changes make (a rollback's
    # version, a conflict check); None on the bare connections, which never take them.
    conn: AsyncConnection | None = None
    # PostgreSQL: the row is locked FOR UPDATE (SQLite's write transaction already holds
    # the only write lock), and the write is one statement.
    postgres: bool

    async def lock(
        self, event_id: int, user_id: int, op_id: str | None
    ) -> Mapping[Any, Any] | None:
        """The event row locked until commit, with the caller's role (`caller_role`)
        and whether `op_id` was already applied (`applied`): one round trip."""
        query = _lock_query(self.postgres, op_id is not None)
        rows = await self._rows(query, {"event_id": event_id, "user_id": user_id, "op_id": op_id})
        return rows[0] if rows else None

    async def version_with_op_id(
        self, event_id: int, author_id: int, op_id: str
    ) -> VersionRecord | None:
        params = {"event_id": event_id, "author_id": author_id, "op_id": op_id}
        rows = await self._rows(_VERSION_WITH_OP_ID, params)
        return version_record(rows[0]) if rows else None

    async def ops_after(self, event_id: int, version: int) -> list[list[dict[str, Any]]]:
        """The ops of every version after `version`."""
        rows = await self._rows(_OPS_AFTER, {"event_id": event_id, "version": version})
        return [row["ops"] for row in rows]

    async def write(
        self,
        event_id: int,
        changed: dict[str, Any],
        version: dict[str, Any],
        audited: dict[str, Any],
    ) -> None:
        """Set the event row's `changed` columns, insert the version row and the audit
        record (`audit.record_values`)."""
        params = _move_and_log_params(event_id, changed, version, audited)
        for statement in _write_statements(tuple(changed), self.postgres):
            await self._run(statement, params)

    async def swap(
        self,
        event_id: int,
        changed: dict[str, Any],
        version: dict[str, Any],
        audited: dict[str, Any],
        expected: dict[str, Any],
    ) -> bool:
        """PostgreSQL: `write`, in one statement that writes nothing unless the row is
        still as `expected` says (`_swap`); whether it wrote."""
        assert self.postgres, "the optimistic write is one PostgreSQL statement"
        params = _move_and_log_params(event_id, changed, version, audited)
        params.update(expected)
        return bool(await self._rows(_swap(tuple(changed)), params))

    @abstractmethod
    async def _rows(
        self, statement: sa.ClauseElement, params: dict[str, Any]
    ) -> list[Mapping[Any, Any]]:
        """Run a statement and answer its rows, each by column name."""

    @abstractmethod
    async def _run(self, statement: sa.ClauseElement, params: dict[str, Any]) -> None:
        """Run a statement that answers no rows."""


@asynccontextmanager
async def edit_transaction(database: Database, *, reads: bool) -> AsyncIterator[EditSql]:
    """A write transaction for one edit and the statements to run in it: a bare asyncpg
    or sqlite3 connection's, unless the change `reads` through SQLAlchemy (a rollback's
    version, a conflict check) or SQLite is busy with another process's write."""
    if not reads:
        if not database.is_sqlite:
            async with database.edit_transaction() as raw:
                yield AsyncpgEditSql(raw)
            return
        async with database.sqlite_edit_transaction() as direct:
            if direct is not None:
                yield SqliteEditSql(direct, database.engine.dialect)
                return
    async with database.write() as conn:
        yield CoreEditSql(conn)


class CoreEditSql(EditSql):
    """Through SQLAlchemy, on either database."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    async def _rows(
        self, statement: sa.ClauseElement, params: dict[str, Any]
    ) -> list[Mapping[Any, Any]]:
        assert self.conn is not None
        result = await self.conn.execute(cast(sa.Executable, statement), params)
        return [row._mapping for row in result]

    async def _run(self, statement: sa.ClauseElement, params: dict[str, Any]) -> None:
        assert self.conn is not None
        await self.conn.execute(cast(sa.Executable, statement), params)


class AsyncpgEditSql(EditSql):
    """PostgreSQL: the same statements, compiled for asyncpg, on a bare connection. JSON
    goes in and out through the connection's codecs (storage/bare_asyncpg.py)."""

    postgres = True

    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw

    async def _rows(
        self, statement: sa.ClauseElement, params: dict[str, Any]
    ) -> list[Mapping[Any, Any]]:
        sql, names = compiled(statement)
        rows: list[Mapping[Any, Any]] = await self._raw.fetch(sql, *[params[n] for n in names])
        return rows

    async def _run(self, statement: sa.ClauseElement, params: dict[str, Any]) -> None:
        sql, names = compiled(statement)
        await self._raw.execute(sql, *[params[n] for n in names])


class SqliteEditSql(EditSql):
    """SQLite: the same statements on a bare sqlite3 connection, in the event loop's own
    thread. Each costs microseconds there, where aiosqlite's hop to its thread and back
    cost an edit about 1 ms of CPU (bench/READING.md); the caller holds the write lock,
    so nothing here waits on another writer."""

    postgres = False

    def __init__(self, raw: sqlite3.Connection, dialect: Dialect) -> None:
        self._raw = raw
        self._dialect = dialect

    async def _rows(
        self, statement: sa.ClauseElement, params: dict[str, Any]
    ) -> list[Mapping[Any, Any]]:
        direct = direct_statement(statement, self._dialect)
        return [direct.row(values) for values in self._execute(direct, params)]

    async def _run(self, statement: sa.ClauseElement, params: dict[str, Any]) -> None:
        self._execute(direct_statement(statement, self._dialect), params)

    def _execute(self, direct: DirectStatement, params: dict[str, Any]) -> sqlite3.Cursor:
        return self._raw.execute(direct.sql, direct.arguments(params))


@cache
def _lock_query(for_update: bool, with_op_id: bool) -> sa.Select[Any]:
    user_id: sa.BindParameter[int] = sa.bindparam("user_id")
    role = (
        sa.select(permissions.c.role)
        .where(permissions.c.event_id == events.c.id, permissions.c.user_id == user_id)
        .scalar_subquery()
    )
    applied = (
        sa.exists().where(
            event_versions.c.event_id == events.c.id,
            event_versions.c.author_id == user_id,
            event_versions.c.op_id == sa.bindparam("op_id"),
        )
        if with_op_id
        else sa.false()
    )
    query = sa.select(events, role.label("caller_role"), applied.label("applied")).where(
        events.c.id == sa.bindparam("event_id")
    )
    # SQLite's write transaction already holds the only write lock.
    return query.with_for_update(of=events) if for_update else query


@cache  # every edit sets the same columns, so one statement
def _move_and_log(columns: tuple[str, ...]) -> sa.Insert:
    """PostgreSQL: `WITH moved AS (UPDATE events ...), audited AS (INSERT INTO
    audit_records ...) INSERT INTO event_versions ...`: one statement, one round trip.

    The event's new `columns` are bound as `moved_<column>`, the audit record's as
    `audited_<column>`, the version row's as its own columns. PostgreSQL runs every
    data-modifying CTE, referenced or not.
    """
    return (
        event_versions.insert()
        .add_cte(_move(columns).cte("moved"))
        .add_cte(_audit().cte("audited"))
    )


@cache
def _swap(columns: tuple[str, ...]) -> sa.Insert:
    """`_move_and_log` that holds only while the event row is as the edit assumed: its
    version and audit head (every permission change moves the head, under the row's
    lock), the editor's role, and no version yet with the edit's op_id. Otherwise the
    UPDATE matches no row, so neither insert (each selects from it) writes one, and
    the statement answers no row.

    A concurrent writer's row lock makes the UPDATE wait, then check its conditions
    again on the row that writer committed (PostgreSQL's READ COMMITTED re-check).
    """
    user_id: sa.BindParameter[int] = sa.bindparam("expected_user_id")
    role_held = sa.exists().where(
        permissions.c.event_id == events.c.id,
        permissions.c.user_id == user_id,
        permissions.c.role == sa.bindparam("expected_role"),
    )
    op_applied = sa.exists().where(
        event_versions.c.event_id == events.c.id,
        event_versions.c.author_id == user_id,
        event_versions.c.op_id == sa.bindparam("op_id"),
    )
    moved = (
        _move(columns)
        .where(
            events.c.version == sa.bindparam("expected_version"),
            events.c.audit_hash == sa.bindparam("expected_audit_head"),
            role_held,
            ~op_applied,
        )
        .returning(events.c.id)
        .cte("moved")
    )
    audited = audit_records.insert().from_select(
        _AUDIT_COLUMNS, _bound_row(audit_records, _AUDIT_COLUMNS, "audited_", moved)
    )
    version_columns = tuple(column.name for column in event_versions.c)
    return (
        event_versions.insert()
        .from_select(version_columns, _bound_row(event_versions, version_columns, "", moved))
        .add_cte(moved)
        .add_cte(audited.cte("audited"))
        .returning(event_versions.c.version)
    )


def _bound_row(
    table: sa.Table, columns: tuple[str, ...], prefix: str, source: sa.CTE
) -> sa.Select[Any]:
    """One row of bound values, the columns of `table` named by `columns`, for each row of
    `source` (at most one)."""
    bound = _bound(table, columns, prefix)
    return sa.select(*(bound[name].label(name) for name in columns)).select_from(source)


def _write_statements(columns: tuple[str, ...], postgres: bool) -> tuple[sa.ClauseElement, ...]:
    """The write of an edit: one statement on PostgreSQL, its three parts on SQLite,
    which has no data-modifying CTE."""
    if postgres:
        return (_move_and_log(columns),)
    return (_move(columns), _INSERT_VERSION, _audit())


@cache
def _move(columns: tuple[str, ...]) -> sa.Update:
    """The event row's update, its new `columns` bound as `moved_<column>`."""
    moved = _bound(events, columns, "moved_")
    return events.update().where(events.c.id == sa.bindparam("moved_id")).values(moved)


@cache
def _audit() -> sa.Insert:
    """The audit record's insert, bound as `audited_<column>`."""
    return audit_records.insert().values(_bound(audit_records, _AUDIT_COLUMNS, "audited_"))


def _move_and_log_params(
    event_id: int, changed: dict[str, Any], version: dict[str, Any], audited: dict[str, Any]
) -> dict[str, Any]:
    params = dict(version)
    params.update({f"moved_{name}": value for name, value in changed.items()})
    params.update({f"audited_{name}": value for name, value in audited.items()})
    params["moved_id"] = event_id
    return params


def _bound(table: sa.Table, columns: tuple[str, ...], prefix: str) -> dict[str, Any]:
    return {name: sa.bindparam(prefix + name, type_=table.c[name].type) for name in columns}
