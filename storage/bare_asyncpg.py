"""PostgreSQL without SQLAlchemy on the hot paths: asyncpg connections, and statements
written in SQLAlchemy Core compiled once for them.

Through SQLAlchemy's pool, transaction and execute path each round trip cost the
server about 0.1 ms of CPU more than on asyncpg alone, which made the database layer
most of a live edit's CPU and much of a month listing's (bench/READING.md). These
pools hand out bare asyncpg connections for the edit engine (storage/edit_sql.py) and
the calendar window's reads (storage/snapshot.py), and keep what SQLAlchemy's pool
gave the rest of the server: connection loss is the contract's 503, and a connection
idle for a while is pinged before use, so a database restart goes unnoticed by the
next request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import cache

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler

from storage.errors import UNAVAILABLE_SQLSTATES, ServiceUnavailable, TandemError
from storage.json_columns import read_json, write_json

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[asyncpg.Connection]]


class BareConnections:
    """At most `size` asyncpg connections, opened on demand and reused."""

    def __init__(self, connect: Connect, size: int, *, ping_if_idle_for: float) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._ping_if_idle_for = ping_if_idle_for
        # Idle connections with the moment they were put back, newest last.
        self._idle: list[tuple[asyncpg.Connection, float]] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection in a transaction, committed when the block ends without error.

        ServiceUnavailable when the database cannot be reached or was lost on the way;
        nothing of the transaction is written then.
        """
        async with self.connection() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection outside any transaction: each statement commits on its own.

        ServiceUnavailable as for `transaction`.
        """
        async with self._slots:
            try:
                conn = await self._checkout()
            except _DRIVER_ERRORS as exc:
                raise _unavailable(exc) from exc  # cannot connect: whatever the reason
            try:
                yield conn
            except TandemError:
                # The edit refused itself and any rollback went through: the
                # conversation with the server is where it should be.
                self._idle.append((conn, time.monotonic()))
                raise
            except BaseException as exc:
                # A driver error or a cancellation may leave a statement half-answered
                # (asyncpg then refuses the next one): never reuse such a connection.
                conn.terminate()
                if _lost(exc):
                    raise _unavailable(exc) from exc
                raise
            self._idle.append((conn, time.monotonic()))

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await conn.close()

    async def _checkout(self) -> asyncpg.Connection:
        while self._idle:
            conn, since = self._idle.pop()
            if conn.is_closed():
                continue
            if time.monotonic() - since < self._ping_if_idle_for:
                return conn
            # asyncpg notices a connection that PostgreSQL closed (a restart, a
            # terminated backend); one that died silently (a dropped route) only
            # shows when used: ask it first.
            if await _usable(conn, conn.execute("SELECT 1")):
                return conn
        conn = await self._connect()
        if not await _usable(conn, _set_codecs(conn)):
            raise ServiceUnavailable("the database is unavailable")
        return conn


async def _usable(conn: asyncpg.Connection, first_use: Awaitable[object]) -> bool:
    """Whether `conn` answered `first_use`; closed for good if not (or if cancelled)."""
    try:
        await first_use
    except BaseException as exc:
        conn.terminate()
        if isinstance(exc, _DRIVER_ERRORS):
            return False
        raise
    return True


async def _set_codecs(conn: asyncpg.Connection) -> None:
    """JSON in and out as Python values, as SQLAlchemy's JSON type gives them; times
    as aware UTC datetimes, as asyncpg gives them, but decoded once per process."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=write_json, decoder=read_json, schema="pg_catalog")
    await conn.set_type_codec(
        "timestamptz",
        encoder=_write_time,
        decoder=_read_time,
        schema="pg_catalog",
        format="tuple",
    )


# PostgreSQL's times count microseconds from 2000 (the "tuple" format of a codec).
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Times decoded before, by their value: a window's reads decode the same events' times
# on every request, and asyncpg's own decoder (a timedelta added, then a replace() of
# the zone) costs about 1.4 us a time on the bench machine, against 0.1 for a lookup.
# The same object each time keeps its hash too, which the expansion caches key on.
# 32,768 times (about 4 MB; a busy month's expanded page reads some 2,000), dropped all
# at once when full: refilling costs what decoding cost before.
KEPT_TIMES = 1 << 15
_times: dict[int, datetime] = {}


def _read_time(value: tuple[int]) -> datetime:
    micros = value[0]
    try:
        return _times[micros]
    except KeyError:
        pass
    if len(_times) >= KEPT_TIMES:
        _times.clear()
    # Past year 9999 (PostgreSQL's infinity) this raises OverflowError: never stored.
    moment = _times[micros] = _PG_EPOCH + micros * _MICROSECOND
    return moment


def _write_time(moment: datetime) -> tuple[int]:
    """An aware datetime (a naive one is a bug: TypeError, as no zone can be assumed)."""
    return ((moment - _PG_EPOCH) // _MICROSECOND,)


_DRIVER_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def _lost(exc: BaseException) -> bool:
    """Whether an error means the database is unreachable, refusing work, or left the
    connection unusable (a 503: nothing was written), as opposed to a fault in the
    statement or the data (a bug: a 500)."""
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate: str = getattr(exc, "sqlstate", None) or ""
        return sqlstate.startswith(UNAVAILABLE_SQLSTATES)
    return isinstance(exc, _DRIVER_ERRORS)


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    log.warning("database unavailable: %s", exc.__class__.__name__)
    return ServiceUnavailable("the database is unavailable")


_ASYNCPG = asyncpg_dialect.dialect()


@cache  # statements are built once per shape, so this stays small
def compiled(statement: sa.ClauseElement) -> tuple[str, tuple[str, ...]]:
    """The statement's SQL for asyncpg ($1, $2, ...) and its parameters' names in order.

    Values go to asyncpg as they are: callers bind ints, strings, aware datetimes,
    arrays and JSON values, which the pools' codecs encode as SQLAlchemy would.
    """
    result = statement.compile(dialect=_ASYNCPG)
    assert isinstance(result, SQLCompiler) and result.positiontup is not None
    return str(result), tuple(result.positiontup)
