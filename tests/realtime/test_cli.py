"""The `tandem` command: migrate, serve, and how it resolves its secret key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from storage.database import Database
from storage.migrate import alembic_config
from storage.tables import metadata
from tests.conftest import fresh_postgres_schema
from tests.processes import base_env, free_port, serving, tandem
from tests.support import TEST_SECRET

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no schema yet: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cal.db'}"
        return
    async with fresh_postgres_schema(migrate=False) as url:
        yield url


async def tables_and_revision(url: str) -> tuple[set[str], str]:
    """The tables of a database and the alembic revision it records."""

    def read(conn: sa.Connection) -> tuple[set[str], str]:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        return set(sa.inspect(conn).get_table_names()), revision

    database = Database(url)
    try:
        async with database.read() as conn:
            return await conn.run_sync(read)
    finally:
        await database.close()


async def test_migrate_creates_every_table_at_the_newest_revision(
    empty_database_url: str, tmp_path: Path
) -> None:
    """`tandem migrate` creates every table at alembic's head; run again, it changes nothing."""
    env = base_env(DATABASE_URL=empty_database_url, SECRET_KEY=TEST_SECRET)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    for _ in range(2):
        result = await asyncio.to_thread(tandem, "migrate", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "schema is up to date" in result.stdout
        tables, revision = await tables_and_revision(empty_database_url)
        assert tables == {*metadata.tables, "alembic_version"}
        assert revision == head


def test_postgres_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    """With a PostgreSQL DATABASE_URL and no SECRET_KEY the server will not start."""
    env = base_env(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test")
    result = tandem("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    """A SECRET_KEY under 32 bytes is refused with a clear message."""
    result = tandem("migrate", env=base_env(SECRET_KEY="short"), cwd=tmp_path)
    assert result.returncode == 2
    assert "32 bytes" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WS_OP_RATE", "fast", "a rate such as"),
        ("MAX_BODY_BYTES", "1MB", "an integer"),
        ("PRESENCE_HEARTBEAT", "0", "a positive number of seconds"),
        ("PRESENCE_HEARTBEAT", "nan", "a positive number of seconds"),
        ("CONFLICT_HORIZON", "0", "1 to 36500 days"),
    ],
)
def test_bad_setting_stops_the_server_with_its_name(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    """A setting that cannot be used stops `tandem serve` at once, naming it."""
    env = base_env(DATABASE_URL=f"sqlite:///{tmp_path / 'cal.db'}", **{name: value})
    result = tandem("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{name} must be {says}" in result.stderr


def test_embedded_serve_keeps_tokens_across_restarts(tmp_path: Path) -> None:
    """Embedded mode generates a key beside the database, so a token survives a restart."""
    env = base_env()  # every default: ./tandem.db in the working directory
    port = free_port()
    with serving(env, tmp_path, port) as served:
        assert any(served.url in line for line in served.printed)
        response = httpx.post(
            f"{served.url}/api/v1/auth/register",
            json={"username": "restart", "email": "r@example.com", "password": "password1"},
        )
        assert response.status_code == 201
        token = response.json()["access_token"]
    secret = tmp_path / "tandem.secret"
    assert secret.exists()
    assert secret.stat().st_mode & 0o077 == 0
    with serving(env, tmp_path, port) as served:
        me = httpx.get(f"{served.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["username"] == "restart"
