"""The sync log's rows no longer check their user against users.

Every edit logs a row for each member of the event (the trigger of migration 0004),
and on PostgreSQL each row's foreign key check locked that member's users row FOR
KEY SHARE. Every edit of every event a user belongs to took the same row lock, so
concurrent edits turned it into a multixact: in W1 the check cost more than half of
the trigger's time (bench/READING.md). The check guarded nothing: every row copies
its user from a permissions row (which keeps its own key to users) or from the
request's own user, and users are never deleted.

SQLite rebuilds the table and keeps its AUTOINCREMENT counter where it was, so no
position is ever handed out twice (a sync cursor holds one). The rebuild renames the
new table into place with legacy_alter_table on: otherwise SQLite checks the trigger
that writes into sync_changes while the name is briefly free, and refuses.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_KEY = "fk_sync_changes_user_id_users"


def upgrade() -> None:
    with _sync_changes() as batch:
        batch.drop_constraint(_KEY, type_="foreignkey")


def downgrade() -> None:
    with _sync_changes() as batch:
        batch.create_foreign_key(_KEY, "users", ["user_id"], ["id"], ondelete="CASCADE")


@contextmanager
def _sync_changes() -> Iterator[BatchOperations]:
    """Alter sync_changes; on SQLite, which rebuilds the table, with its position counter
    left where it was."""
    sqlite = op.get_context().dialect.name == "sqlite"
    counter = "SELECT seq FROM sqlite_sequence WHERE name = 'sync_changes'"
    last = op.get_bind().execute(sa.text(counter)).scalar() if sqlite else None
    if sqlite:
        op.execute("PRAGMA legacy_alter_table = ON")
    with op.batch_alter_table("sync_changes", table_kwargs={"sqlite_autoincrement": True}) as batch:
        yield batch
    if sqlite:
        op.execute("PRAGMA legacy_alter_table = OFF")
    if last is not None:
        op.execute("DELETE FROM sqlite_sequence WHERE name = 'sync_changes'")
        op.execute(f"INSERT INTO sqlite_sequence (name, seq) VALUES ('sync_changes', {int(last)})")
