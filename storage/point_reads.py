"""Reads of one row by key, sent the cheapest way: the session behind every token (each
request and socket) and the event every socket joins.

One statement reads a snapshot of its own on both databases, so these need no
transaction, and a read transaction through SQLAlchemy cost them more than the read:
on SQLite three hops to aiosqlite's thread and back (BEGIN, the statement, the end),
on PostgreSQL SQLAlchemy's pool and the BEGIN and COMMIT round trips (bench/READING.md).
So on PostgreSQL they run on a bare asyncpg connection outside a transaction, and on
SQLite on a read-only sqlite3 connection in the event loop's thread, where an indexed
lookup takes microseconds. An in-memory or busy SQLite falls back to `Database.read()`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy as sa

from storage.bare_asyncpg import compiled
from storage.database import Database
from storage.direct_sqlite import direct_statement


async def read_row(
    database: Database, statement: sa.Select[Any], params: dict[str, Any]
) -> Mapping[str, Any] | None:
    """The statement's first row, by column name; None when it has none."""
    if not database.is_sqlite:
        sql, names = compiled(statement)
        async with database.snapshot_statement() as raw:
            found = await raw.fetchrow(sql, *[params[name] for name in names])
        return cast(Mapping[str, Any] | None, found)
    reader = database.sqlite_reader()
    if reader is not None:
        direct = direct_statement(statement, database.engine.dialect)
        try:
            # fetchall, not fetchone: the statement must end, or its read snapshot
            # stays open and holds back the WAL's checkpoints.
            rows = reader.execute(direct.sql, direct.arguments(params)).fetchall()
        except sqlite3.OperationalError:
            pass  # busy or locked: read() waits for it in aiosqlite's thread
        else:
            return direct.row(rows[0]) if rows else None
    async with database.read() as conn:
        row = (await conn.execute(statement, params)).first()
    return None if row is None else row._mapping
