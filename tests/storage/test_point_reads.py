"""One-row reads outside a transaction (storage/point_reads.py): the same rows as a read
transaction gives, and on a busy SQLite the wait in aiosqlite's thread instead of an
error. Authentication and joins read through them in every other test."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from storage.database import Database
from storage.point_reads import read_row
from storage.tables import users
from tests.conftest import fresh_sqlite

pytestmark = pytest.mark.timeout(60)

_ONE_ROW = sa.select(
    sa.bindparam("n", type_=sa.Integer).label("n"), sa.literal_column("'x'").label("s")
)
_NO_ROW = sa.select(users.c.id).where(users.c.id == sa.bindparam("id"))


async def test_a_point_read_answers_what_a_read_transaction_does(database_url: str) -> None:
    database = Database(database_url)
    try:
        async with database.read() as conn:
            expected = dict((await conn.execute(_ONE_ROW, {"n": 7})).one()._mapping)
        found = await read_row(database, _ONE_ROW, {"n": 7})
        assert found is not None and dict(found) == expected == {"n": 7, "s": "x"}
        assert await read_row(database, _NO_ROW, {"id": 1}) is None
    finally:
        await database.close()


class _BusyConnection(sqlite3.Connection):
    """What the reader sees while another process holds SQLite's lock."""

    asked = 0

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        type(self).asked += 1
        raise sqlite3.OperationalError("database is locked")


async def test_a_busy_sqlite_reader_leaves_the_read_to_a_waiting_transaction(
    tmp_path: Path, sqlite_template: Path
) -> None:
    database = Database(fresh_sqlite(sqlite_template, tmp_path))
    path = str(tmp_path / "tandem.db")
    database._sqlite_reader = sqlite3.connect(path, factory=_BusyConnection)
    try:
        found = await read_row(database, _ONE_ROW, {"n": 3})
        assert found is not None and dict(found) == {"n": 3, "s": "x"}
        assert _BusyConnection.asked == 1
    finally:
        await database.close()
