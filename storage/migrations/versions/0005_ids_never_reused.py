"""Event and feed ids are never reused on SQLite.

Without AUTOINCREMENT, SQLite gives a new row the largest id plus one, so deleting
the newest event handed its id to the next one: the new event inherited the old
one's audit trail (which outlives its event), and its audit chain forked.
PostgreSQL's sequences never go back; nothing changes there.

The tables are rebuilt with AUTOINCREMENT (foreign keys are off during migrations on
SQLite, see Database.schema_change), and the counter starts above every id that the
audit trail or the sync log still names.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Where ids live on after their row is gone: (table, column).
_REMEMBERED = {
    "events": (("audit_records", "event_id"), ("sync_changes", "event_id")),
    "feeds": (),
}


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for table, remembered in _REMEMBERED.items():
        _rebuild(table, autoincrement=True)
        highest = [f"(SELECT max(id) FROM {table})"]
        highest += [f"(SELECT max({column}) FROM {other})" for other, column in remembered]
        op.execute(f"DELETE FROM sqlite_sequence WHERE name = '{table}'")
        op.execute(
            f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', "
            f"max({', '.join(f'coalesce({query}, 0)' for query in highest)}, 0)"
        )


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for table in _REMEMBERED:
        _rebuild(table, autoincrement=False)


def _rebuild(table: str, *, autoincrement: bool) -> None:
    with op.batch_alter_table(
        table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass
