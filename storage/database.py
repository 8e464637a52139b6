"""Connections by URL: SQLite (embedded) or PostgreSQL (distributed).

Every use case opens its own transaction with `read()` or `write()` and passes
the connection to the storage functions it calls; nothing holds hidden
per-task connection state. The layers above name that connection's type as
`storage.database.AsyncConnection`, so that only storage imports SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.bare_asyncpg import BareConnections
from storage.errors import UNAVAILABLE_SQLSTATES, ServiceUnavailable
from storage.json_columns import read_json, write_json

log = logging.getLogger(__name__)

# How the server's connections appear in pg_stat_activity.
APPLICATION_NAME = "tandem"
# A pooled PostgreSQL connection idle this long (seconds) is pinged before use, so
# one that died meanwhile (a restart, an idle timeout) is replaced unnoticed. A busy
# connection is not: pinging every checkout cost each edit a round trip.
PING_IF_IDLE_FOR = 1.0
# The connections of `snapshot()`, set once when each is opened rather than by a round
# trip per read. Planned for each run's bounds: asyncpg prepares every statement, and
# after five runs PostgreSQL may switch to a generic plan, blind to a window's bounds
# (with the statistics a bulk import left stale, that plan for a month listing was a
# nested loop 300x slower than the plan for the actual bounds).
SNAPSHOT_SETTINGS = {
    "default_transaction_isolation": "repeatable read",
    "default_transaction_read_only": "on",
    "plan_cache_mode": "force_custom_plan",
}


def parse_database_url(url: str) -> tuple[URL, dict[str, Any]]:
    """The SQLAlchemy async URL and connect arguments for a user-facing URL.

    `sqlite:///path` and `postgresql://...` (or `postgres://`) are accepted; a
    `schema` query parameter on a PostgreSQL URL sets the search_path, so that
    one database can hold several Tandem installations (the tests use it).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite"), connect_args
    if backend in ("postgresql", "postgres"):
        query = dict(parsed.query)
        server_settings = {"application_name": APPLICATION_NAME}
        schema = query.pop("schema", None)
        if schema:
            server_settings["search_path"] = str(schema)
        connect_args["server_settings"] = server_settings
        return parsed.set(drivername="postgresql+asyncpg", query=query), connect_args
    raise ValueError(
        f"unsupported DATABASE_URL scheme {parsed.drivername!r}: use sqlite:// or postgresql://"
    )


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases or in-memory SQLite)."""
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database)


class Database:
    """An async engine plus the transaction discipline Tandem relies on."""

    def __init__(self, url: str, *, pool_size: int = 10, sqlite_busy_timeout: float = 30.0) -> None:
        self.url = url
        sa_url, connect_args = parse_database_url(url)
        self.dialect = sa_url.get_backend_name()
        self._edits: BareConnections | None = None
        self._snapshots: BareConnections | None = None
        self._sqlite_direct: sqlite3.Connection | None = None
        self._sqlite_reader: sqlite3.Connection | None = None
        if self.dialect == "sqlite":
            self.engine = create_async_engine(
                sa_url,
                connect_args=connect_args,
                json_deserializer=read_json,
                json_serializer=write_json,
            )
            _configure_sqlite(self.engine, busy_timeout_ms=round(sqlite_busy_timeout * 1000))
        else:
            self.engine = create_async_engine(
                sa_url,
                connect_args=connect_args,
                pool_size=pool_size,
                max_overflow=pool_size,
                json_deserializer=read_json,
                json_serializer=write_json,
            )
            _ping_idle_connections(self.engine)
            driver = _driver_arguments(self.engine, connect_args)
            self._edits = BareConnections(
                functools.partial(asyncpg.connect, **driver),
                pool_size,
                ping_if_idle_for=PING_IF_IDLE_FOR,
            )
            # The same kind of pool (503 on loss, pinged when idle), for snapshot().
            settings = {**driver.get("server_settings", {}), **SNAPSHOT_SETTINGS}
            self._snapshots = BareConnections(
                functools.partial(asyncpg.connect, **{**driver, "server_settings": settings}),
                pool_size,
                ping_if_idle_for=PING_IF_IDLE_FOR,
            )
        # SQLite has one writer at a time; queueing writers here instead of in
        # SQLite's busy handler (which sleeps and polls) keeps latency flat.
        self._sqlite_writer = asyncio.Lock() if self.dialect == "sqlite" else None

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def close(self) -> None:
        for pool in (self._edits, self._snapshots):
            if pool is not None:
                await pool.close()
        for direct in (self._sqlite_direct, self._sqlite_reader):
            if direct is not None:
                direct.close()
        self._sqlite_direct = self._sqlite_reader = None
        await self.engine.dispose()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A transaction for reading. On SQLite its statements see one snapshot; on
        PostgreSQL it is READ COMMITTED, each statement seeing what was committed when it
        began (what the sync reader relies on): a read whose statements must agree with
        each other uses `read_snapshot()`."""
        async with _unavailable_on_connection_loss(), self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def read_snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction whose statements all see one snapshot, through
        SQLAlchemy: for reads too long for `snapshot()`'s fetch-everything connection,
        such as `tandem audit verify` streaming the whole trail and then reading the
        chains' heads (in READ COMMITTED an edit committed between the two looked like a
        deleted record). REPEATABLE READ on PostgreSQL, which SQLAlchemy undoes when the
        connection goes back to the pool; SQLite's `read()` is one snapshot already."""
        if self.is_sqlite:
            async with self.read() as conn:
                yield conn
            return
        async with _unavailable_on_connection_loss(), self.engine.connect() as conn:
            conn = await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that will write; committed when the block ends without error.

        On SQLite it starts with BEGIN IMMEDIATE: a deferred transaction that reads
        and then writes can lose a concurrent update or fail with SQLITE_BUSY.
        """
        if self._sqlite_writer is None:
            async with (
                _unavailable_on_connection_loss(),
                self.engine.connect() as conn,
                conn.begin(),
            ):
                yield conn
            return
        async with (
            self._sqlite_writer,
            _unavailable_on_connection_loss(),
            self.engine.connect() as conn,
        ):
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def edit_transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """PostgreSQL only: a write transaction on a bare asyncpg connection, for the edit
        engine's hot path (storage/bare_asyncpg.py says why)."""
        assert self._edits is not None, "edit_transaction is for PostgreSQL"
        async with self._edits.transaction() as conn:
            yield conn

    @asynccontextmanager
    async def edit_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """PostgreSQL only: a bare asyncpg connection outside any transaction, for the
        edit engine's one-statement optimistic write (storage.edits.swap_edit)."""
        assert self._edits is not None, "edit_connection is for PostgreSQL"
        async with self._edits.connection() as conn:
            yield conn

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        """PostgreSQL only: a read-only REPEATABLE READ transaction on a bare asyncpg
        connection, whose statements all see one snapshot and are planned for their own
        parameters (SNAPSHOT_SETTINGS): the calendar window's reads (storage/snapshot.py).
        `read()` stays READ COMMITTED, which the sync reader relies on."""
        assert self._snapshots is not None, "snapshot is for PostgreSQL"
        async with self._snapshots.transaction() as conn:
            yield conn

    @asynccontextmanager
    async def snapshot_statement(self) -> AsyncIterator[asyncpg.Connection]:
        """PostgreSQL only: a connection of `snapshot`'s pool outside a transaction,
        for a read of one statement (which sees one snapshot of its own)."""
        assert self._snapshots is not None, "snapshot_statement is for PostgreSQL"
        async with self._snapshots.connection() as conn:
            yield conn

    @asynccontextmanager
    async def sqlite_edit_transaction(self) -> AsyncIterator[sqlite3.Connection | None]:
        """SQLite only: a write transaction on a bare sqlite3 connection that runs in the
        event loop's own thread, for the edit engine's hot path (storage/edit_sql.py).

        It holds this process's write lock and does not wait for another process's:
        None when that one writes right now, or for an in-memory database; the caller
        then uses `write()`, which waits in a worker thread.
        """
        assert self._sqlite_writer is not None, "sqlite_edit_transaction is for SQLite"
        async with self._sqlite_writer:
            raw = self._direct_sqlite()
            if raw is None:
                yield None
                return
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                yield None  # busy: another process holds the write lock
                return
            try:
                yield raw
            except BaseException as exc:
                raw.rollback()
                if isinstance(exc, sqlite3.OperationalError):
                    # locked, full, read-only or I/O: SQLite cannot write now.
                    log.warning("database unavailable: %s", exc)
                    raise ServiceUnavailable("the database is unavailable") from exc
                raise
            try:
                raw.commit()
            except sqlite3.OperationalError as exc:
                raw.rollback()
                log.warning("database unavailable: %s", exc)
                raise ServiceUnavailable("the database is unavailable") from exc

    def sqlite_reader(self) -> sqlite3.Connection | None:
        """SQLite only: a read-only sqlite3 connection in the event loop's own thread,
        outside any transaction, so that each statement reads a snapshot of its own
        (storage/point_reads.py); None for an in-memory database.

        Not `sqlite_edit_transaction`'s connection: a read there could see an edit's
        uncommitted rows while the edit awaits.
        """
        if self._sqlite_reader is None:
            self._sqlite_reader = self._sqlite_in_loop_thread("PRAGMA query_only=ON")
        return self._sqlite_reader

    def _direct_sqlite(self) -> sqlite3.Connection | None:
        if self._sqlite_direct is None:
            self._sqlite_direct = self._sqlite_in_loop_thread(
                "PRAGMA foreign_keys=ON", "PRAGMA synchronous=NORMAL"
            )
        return self._sqlite_direct

    def _sqlite_in_loop_thread(self, *pragmas: str) -> sqlite3.Connection | None:
        """A sqlite3 connection for the event loop's thread, outside any transaction
        until BEGIN; None for an in-memory database. No busy wait (it would block the
        loop): a busy database is left to read() or write(), which wait in aiosqlite's
        thread."""
        path = sqlite_path(self.url)
        if path is None:
            return None
        connection = sqlite3.connect(path, isolation_level=None, timeout=0)
        for pragma in pragmas:
            connection.execute(pragma)
        return connection

    @asynccontextmanager
    async def schema_change(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction for migrations.

        On SQLite, foreign keys are off inside it, as SQLite prescribes for rebuilding
        a table: with them on, dropping the old table would cascade-delete every row
        that refers to it. They are checked before commit and back on afterwards.
        The pragma is a no-op inside a transaction, so it goes to the driver first.
        """
        if not self.is_sqlite:
            async with self.write() as conn:
                yield conn
            return
        assert self._sqlite_writer is not None
        async with self._sqlite_writer, self.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            await driver.execute("PRAGMA foreign_keys=OFF")
            try:
                conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
                async with conn.begin():
                    yield conn
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).first()
                    if broken is not None:
                        raise RuntimeError(f"migration broke a foreign key: {tuple(broken)}")
            finally:
                await driver.execute("PRAGMA foreign_keys=ON")

    async def healthy(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # any failure means "not healthy"; the reason is logged
            log.warning("database health check failed: %s", exc.__class__.__name__)
            return False
        return True


def lost_database(exc: BaseException) -> bool:
    """Whether `exc` means the database is unreachable or refusing work (a 503), as
    opposed to a fault in the statement or the data (a bug: a 500)."""
    if isinstance(exc, OSError | ConnectionError):
        return True  # refused, reset or timed out while connecting or talking
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        # SQLite reports locked, full, read-only and I/O failures as OperationalError.
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    return sqlstate.startswith(UNAVAILABLE_SQLSTATES)


@asynccontextmanager
async def _unavailable_on_connection_loss() -> AsyncIterator[None]:
    """Turn a lost, refused or unwritable database into the contract's 503.

    The transaction has rolled back by the time this sees the error, so nothing
    of the change is written.
    """
    try:
        yield
    except (DBAPIError, OSError, ConnectionError) as exc:
        if not lost_database(exc):
            raise
        log.warning("database unavailable: %s", _reason(exc))
        raise ServiceUnavailable("the database is unavailable") from exc


def _reason(exc: BaseException) -> str:
    """The driver's exception name, which tells an operator what happened (no SQL)."""
    original = getattr(exc, "orig", None)
    return (original or exc).__class__.__name__


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """pool_pre_ping, for connections that have been idle PING_IF_IDLE_FOR or longer."""

    @sa_event.listens_for(engine.sync_engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @sa_event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get("checked_in")
        if checked_in is None or time.monotonic() - checked_in < PING_IF_IDLE_FOR:
            return  # new, or in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure: the pool replaces it (up to 3 tries)
            raise DisconnectionError("idle connection died") from exc
        if not alive:
            raise DisconnectionError("idle connection died")


def _driver_arguments(engine: AsyncEngine, connect_args: dict[str, Any]) -> dict[str, Any]:
    """What SQLAlchemy passes to asyncpg.connect for this engine's URL."""
    _args, arguments = engine.dialect.create_connect_args(engine.url)
    return {**arguments, **connect_args}


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout, foreign keys, and our own BEGIN (the driver's is deferred)."""

    @sa_event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa_event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
