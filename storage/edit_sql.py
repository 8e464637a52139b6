"""The edit engine's statements, on the connection the engine runs on.

Every database and every change can run them through SQLAlchemy (`CoreEditSql`). On
PostgreSQL the live edit runs the very same statements, compiled once for asyncpg, on
a bare asyncpg connection (`AsyncpgEditSql`, storage/edit_pool.py says why): one
spelling of the SQL, two ways to send it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from storage.database import Database
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


class EditSql(Protocol):
    """What the edit engine asks of the database, inside the caller's transaction."""

    # The SQLAlchemy connection, for the reads only some changes make (a rollback's
    # version, a conflict check); None on the asyncpg path, which never takes them.
    conn: AsyncConnection | None

    async def lock(
        self, event_id: int, user_id: int, op_id: str | None
    ) -> Mapping[Any, Any] | None:
        """The event row locked until commit, with the caller's role (`caller_role`)
        and whether `op_id` was already applied (`applied`): one round trip."""

    async def version_with_op_id(
        self, event_id: int, author_id: int, op_id: str
    ) -> VersionRecord | None: ...

    async def ops_after(self, event_id: int, version: int) -> list[list[dict[str, Any]]]:
        """The ops of every version after `version`."""

    async def write(
        self,
        event_id: int,
        changed: dict[str, Any],
        version: dict[str, Any],
        audited: dict[str, Any],
    ) -> None:
        """Set the event row's `changed` columns, insert the version row and the audit
        record (`audit.record_values`)."""


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


class CoreEditSql:
    """Through SQLAlchemy, on either database."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn: AsyncConnection | None = conn
        self._conn = conn
        self._postgres = conn.dialect.name == "postgresql"

    async def lock(
        self, event_id: int, user_id: int, op_id: str | None
    ) -> Mapping[Any, Any] | None:
        query = _lock_query(self._postgres, op_id is not None)
        params = {"event_id": event_id, "user_id": user_id, "op_id": op_id}
        row = (await self._conn.execute(query, params)).first()
        return None if row is None else row._mapping

    async def version_with_op_id(
        self, event_id: int, author_id: int, op_id: str
    ) -> VersionRecord | None:
        params = {"event_id": event_id, "author_id": author_id, "op_id": op_id}
        row = (await self._conn.execute(_VERSION_WITH_OP_ID, params)).first()
        return None if row is None else version_record(row._mapping)

    async def ops_after(self, event_id: int, version: int) -> list[list[dict[str, Any]]]:
        params = {"event_id": event_id, "version": version}
        return list((await self._conn.execute(_OPS_AFTER, params)).scalars())

    async def write(
        self,
        event_id: int,
        changed: dict[str, Any],
        version: dict[str, Any],
        audited: dict[str, Any],
    ) -> None:
        params = _move_and_log_params(event_id, changed, version, audited)
        for statement in _write_statements(tuple(changed), self._postgres):
            await self._conn.execute(statement, params)


class AsyncpgEditSql:
    """PostgreSQL: the same statements, compiled for asyncpg, on a bare connection."""

    conn: AsyncConnection | None = None

    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw

    async def lock(
        self, event_id: int, user_id: int, op_id: str | None
    ) -> Mapping[Any, Any] | None:
        sql, names = _compiled(_lock_query(True, op_id is not None))
        params = {"event_id": event_id, "user_id": user_id, "op_id": op_id}
        row: Mapping[Any, Any] | None = await self._raw.fetchrow(sql, *(params[n] for n in names))
        return row

    async def version_with_op_id(
        self, event_id: int, author_id: int, op_id: str
    ) -> VersionRecord | None:
        sql, names = _compiled(_VERSION_WITH_OP_ID)
        params = {"event_id": event_id, "author_id": author_id, "op_id": op_id}
        row = await self._raw.fetchrow(sql, *(params[n] for n in names))
        return None if row is None else version_record(row)

    async def ops_after(self, event_id: int, version: int) -> list[list[dict[str, Any]]]:
        sql, names = _compiled(_OPS_AFTER)
        params = {"event_id": event_id, "version": version}
        return [row["ops"] for row in await self._raw.fetch(sql, *(params[n] for n in names))]

    async def write(
        self,
        event_id: int,
        changed: dict[str, Any],
        version: dict[str, Any],
        audited: dict[str, Any],
    ) -> None:
        sql, names = _compiled(_move_and_log(tuple(changed)))
        params = _move_and_log_params(event_id, changed, version, audited)
        await self._raw.execute(sql, *(params[n] for n in names))


class SqliteEditSql:
    """SQLite: the same statements on a bare sqlite3 connection, in the event loop's own
    thread. Each costs microseconds there, where aiosqlite's hop to its thread and back
    cost an edit about 1 ms of CPU (bench/READING.md); the caller holds the write lock,
    so nothing here waits on another writer."""

    conn: AsyncConnection | None = None

    def __init__(self, raw: sqlite3.Connection, dialect: Dialect) -> None:
        self._raw = raw
        self._dialect = dialect

    async def lock(
        self, event_id: int, user_id: int, op_id: str | None
    ) -> Mapping[Any, Any] | None:
        params = {"event_id": event_id, "user_id": user_id, "op_id": op_id}
        return self._first(_lock_query(False, op_id is not None), params)

    async def version_with_op_id(
        self, event_id: int, author_id: int, op_id: str
    ) -> VersionRecord | None:
        params = {"event_id": event_id, "author_id": author_id, "op_id": op_id}
        row = self._first(_VERSION_WITH_OP_ID, params)
        return None if row is None else version_record(row)

    async def ops_after(self, event_id: int, version: int) -> list[list[dict[str, Any]]]:
        statement = _direct(_OPS_AFTER, self._dialect)
        rows = self._raw.execute(
            statement.sql, statement.arguments({"event_id": event_id, "version": version})
        )
        return [statement.row(values)["ops"] for values in rows]

    async def write(
        self,
        event_id: int,
        changed: dict[str, Any],
        version: dict[str, Any],
        audited: dict[str, Any],
    ) -> None:
        params = _move_and_log_params(event_id, changed, version, audited)
        for part in _write_statements(tuple(changed), postgres=False):
            statement = _direct(part, self._dialect)
            self._raw.execute(statement.sql, statement.arguments(params))

    def _first(self, query: sa.ClauseElement, params: dict[str, Any]) -> dict[str, Any] | None:
        statement = _direct(query, self._dialect)
        values = self._raw.execute(statement.sql, statement.arguments(params)).fetchone()
        return None if values is None else statement.row(values)


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


def _write_statements(columns: tuple[str, ...], postgres: bool) -> tuple[sa.Executable, ...]:
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


_ASYNCPG = asyncpg_dialect.dialect()


@cache
def _compiled(statement: sa.ClauseElement) -> tuple[str, tuple[str, ...]]:
    """The statement's SQL for asyncpg ($1, $2, ...) and its parameters' names in order.

    Values go to asyncpg as they are: the edit binds ints, strings, aware datetimes and
    JSON values, which the pool's codecs (storage/edit_pool.py) encode as SQLAlchemy
    would.
    """
    compiled = statement.compile(dialect=_ASYNCPG)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
    return str(compiled), tuple(compiled.positiontup)


@dataclass(frozen=True)
class _Direct:
    """A statement compiled for a DB-API connection, with SQLAlchemy's own conversions of
    its parameters and result columns (the ones SQLAlchemy would apply)."""

    sql: str
    names: tuple[str, ...]
    binders: tuple[Callable[[Any], Any] | None, ...]
    keys: tuple[str, ...]
    loaders: tuple[Callable[[Any], Any] | None, ...]

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        return [
            params[name] if bind is None else bind(params[name])
            for name, bind in zip(self.names, self.binders, strict=True)
        ]

    def row(self, values: Sequence[Any]) -> dict[str, Any]:
        return {
            key: value if load is None else load(value)
            for key, load, value in zip(self.keys, self.loaders, values, strict=True)
        }


@cache
def _direct(statement: sa.ClauseElement, dialect: Dialect) -> _Direct:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
    names = tuple(compiled.positiontup)
    binds = compiled._bind_processors
    columns = compiled._result_columns
    return _Direct(
        str(compiled),
        names,
        tuple(cast(Callable[[Any], Any] | None, binds.get(name)) for name in names),
        tuple(column.keyname for column in columns),
        tuple(column.type._cached_result_processor(dialect, None) for column in columns),
    )
