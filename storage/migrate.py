"""Apply the alembic migrations to a database (`tandem migrate`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def migrate(database: Database, revision: str = "head") -> None:
    """Upgrade the schema to `revision`, in one transaction."""
    await _step(database, command.upgrade, revision)


async def downgrade(database: Database, revision: str) -> None:
    """Take the schema back to `revision`, in one transaction."""
    await _step(database, command.downgrade, revision)


async def _step(database: Database, step: Callable[[Config, str], None], revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        step(config, revision)

    async with database.schema_change() as conn:
        await conn.run_sync(run)


async def schema_is_current(database: Database) -> bool:
    """True when the database is at the newest migration."""

    def current(connection: Connection) -> bool:
        context = MigrationContext.configure(connection)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        return context.get_current_revision() == head

    async with database.read() as conn:
        return await conn.run_sync(current)
