"""Fixtures: every database test runs on SQLite and on PostgreSQL, each on a fresh schema.

PostgreSQL and Redis are found through DATABASE_URL and REDIS_URL (defaults: the
local servers). Without them the PostgreSQL/Redis tests are skipped, loudly; with
REQUIRE_SERVICES=1 (as in CI) a missing service fails the run instead.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url

from auth import passwords
from realtime.settings import Settings
from storage.database import Database
from storage.migrate import migrate
from tests.support import TLS, RunningServer, server_settings, start_server

# The `browser` fixture (Debian's chromium) for the browser and /docs tests.
pytest_plugins = ["tests.chromium"]

POSTGRES_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"

# argon2id as in production, at its lowest cost: the default (about 0.15 s a hash on a
# CI core) spent a third of the suite's time on registrations and each server's
# decoy hash. The `tandem` processes the tests start keep the production cost.
CHEAP_HASHER = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}

_availability: dict[str, str | None] = {}
# Begins the reason of every skip for a missing service; the summary counts them by it.
MISSING_SERVICE = "service missing: "


async def _probe_postgres() -> str | None:
    url = make_url(POSTGRES_URL)
    try:
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
            timeout=3,
        )
        await conn.close()
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {url.render_as_string(hide_password=True)} unreachable: {exc}"
    return None


async def _probe_redis() -> str | None:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        return f"Redis at {REDIS_URL} unreachable: {exc}"
    finally:
        await client.aclose()
    return None


async def require_service(name: str) -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) when PostgreSQL or Redis is missing."""
    if name not in _availability:
        _availability[name] = await (_probe_postgres() if name == "postgres" else _probe_redis())
    problem = _availability[name]
    if problem is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {problem}")
    pytest.skip(f"{MISSING_SERVICE}{problem}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Counted from the reports, which pytest-xdist's workers send to this process too.
    skipped: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        if MISSING_SERVICE in reason:
            problem = reason.split(MISSING_SERVICE, 1)[1]
            skipped[problem] = skipped.get(problem, 0) + 1
    if not skipped:
        return
    terminalreporter.section("SKIPPED: services missing", sep="!", red=True, bold=True)
    for problem, count in skipped.items():
        terminalreporter.write_line(
            f"{count} test(s) did NOT run because {problem}. "
            "Start it, or set DATABASE_URL / REDIS_URL, to run the whole suite.",
            red=True,
            bold=True,
        )


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Servers started in this process hash passwords with CHEAP_HASHER."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "PasswordHasher", lambda: PasswordHasher(**CHEAP_HASHER))
        yield


@asynccontextmanager
async def fresh_postgres_schema(*, migrate: bool = True) -> AsyncIterator[str]:
    """The URL of a new PostgreSQL schema (migrated unless told not), dropped afterwards."""
    await require_service("postgres")
    schema = f"t_{secrets.token_hex(6)}"
    admin = await admin_connection()
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    try:
        yield await migrated(url) if migrate else url
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run, for `fresh_sqlite` to copy."""
    path = tmp_path_factory.mktemp("template") / "tandem.db"
    await migrated(f"sqlite:///{path}")
    # Closing the last connection checkpointed the WAL: the one file holds everything.
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    return path


def fresh_sqlite(template: Path, folder: Path) -> str:
    """The URL of a freshly migrated SQLite file in `folder`: a copy of the template,
    byte for byte what a migration writes, without running alembic for every test."""
    path = folder / "tandem.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """A freshly migrated database: a temporary SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield fresh_sqlite(sqlite_template, tmp_path)
        return
    async with fresh_postgres_schema() as url:
        yield url


async def admin_connection() -> asyncpg.Connection:
    url = make_url(POSTGRES_URL)
    return await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )


async def migrated(url: str) -> str:
    """`url`, with the schema created or upgraded."""
    database = Database(url)
    try:
        await migrate(database)
    finally:
        await database.close()
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return server_settings(database_url=database_url)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start_server(settings)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30, verify=TLS) as http:
        yield http


class _TracebackWatch(logging.Handler):
    """Keeps every log record that carries a traceback (an exception the server did
    not turn into a contract answer)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None or "Traceback" in record.getMessage():
            self.records.append(record)


# uvicorn's loggers do not propagate to the root logger, so both are watched.
_WATCHED_LOGGERS = ("", "uvicorn")


@pytest.fixture(autouse=True)
def no_server_tracebacks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any test during which a server in this process logged a traceback.

    A test that provokes one on purpose says so with `@pytest.mark.traceback_expected`.
    """
    watch = _TracebackWatch()
    loggers = [logging.getLogger(name) for name in _WATCHED_LOGGERS]
    for logger in loggers:
        logger.addHandler(watch)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(watch)
    if watch.records and request.node.get_closest_marker("traceback_expected") is None:
        first = watch.records[0]
        pytest.fail(
            f"the server logged {len(watch.records)} traceback(s); the first, from "
            f"{first.name}: {first.getMessage()}\n{watch.format(first)}",
            pytrace=False,
        )
