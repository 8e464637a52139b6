"""An edit logs its sync change once, on the event row, not once per member.

Migration 0004's trigger wrote a sync_changes row for every member of the event with
every version: an event shared with 21 people cost 22 rows (and 66 index entries) per
edit, more PostgreSQL time than the rest of the edit (bench/READING.md). Now a new
version takes the next position for the event itself, in `events.sync_position`, and
a reader finds an edited event through its own permissions (storage/sync_log.py).
What concerns one user only (a share, a role, a revocation, a transfer, a deletion)
is still logged per user, by `sync_log.touch`. Rows logged before this migration stay
where they are and are read as before, until pruned.

Positions come from the one counter sync_changes draws from: PostgreSQL's sequence of
its `position`, SQLite's AUTOINCREMENT counter (sqlite_sequence), so every position is
unique across both. On PostgreSQL the trigger takes the members' shared advisory locks
before it draws the position, as every writer of the log does (storage/sync_log.py
says why a cursor then never skips a change).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# 1937337955 is storage/sync_log.py's _LOCK_SPACE ("sync").
_PG_FUNCTION = """
CREATE FUNCTION tandem_event_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.version = OLD.version THEN
            RETURN NEW;
        END IF;
        PERFORM pg_advisory_xact_lock_shared(1937337955, user_id)
            FROM permissions WHERE event_id = NEW.id;
    ELSE
        -- A new event's only member is its owner (whose permission comes next).
        PERFORM pg_advisory_xact_lock_shared(1937337955, NEW.owner_id);
    END IF;
    NEW.sync_position := nextval(pg_get_serial_sequence('sync_changes', 'position'));
    RETURN NEW;
END
$$
"""
_PG_TRIGGER = (
    "CREATE TRIGGER events_sync_position BEFORE INSERT OR UPDATE OF version ON events "
    "FOR EACH ROW EXECUTE FUNCTION tandem_event_position()"
)
# SQLite writes one transaction at a time, so the counter is simply moved on.
_SQLITE_NEXT_POSITION = """
    UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'sync_changes';
    UPDATE events SET sync_position = (
        SELECT seq FROM sqlite_sequence WHERE name = 'sync_changes'
    ) WHERE id = NEW.id;
"""
_SQLITE_TRIGGERS = (
    f"""
CREATE TRIGGER events_sync_position_insert AFTER INSERT ON events
BEGIN {_SQLITE_NEXT_POSITION} END
""",
    f"""
CREATE TRIGGER events_sync_position_update AFTER UPDATE OF version ON events
WHEN NEW.version <> OLD.version
BEGIN {_SQLITE_NEXT_POSITION} END
""",
)

# Migration 0004's trigger, to go back to.
_0004 = importlib.import_module("storage.migrations.versions.0004_sync_audit")


def upgrade() -> None:
    postgres = op.get_context().dialect.name == "postgresql"
    op.add_column(
        "events", sa.Column("sync_position", sa.BigInteger, nullable=False, server_default="0")
    )
    if postgres:
        op.execute("DROP TRIGGER event_versions_log_sync ON event_versions")
        op.execute("DROP FUNCTION tandem_log_version()")
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
        return
    op.execute("DROP TRIGGER event_versions_log_sync")
    # The counter's row exists once sync_changes has had a row; make sure it does.
    op.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'sync_changes', 0 "
        "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'sync_changes')"
    )
    for trigger in _SQLITE_TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    postgres = op.get_context().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER events_sync_position ON events")
        op.execute("DROP FUNCTION tandem_event_position()")
        op.execute(_0004._PG_LOG_VERSION)
        op.execute(_0004._PG_TRIGGER)
    else:
        op.execute("DROP TRIGGER events_sync_position_insert")
        op.execute("DROP TRIGGER events_sync_position_update")
        op.execute(_0004._SQLITE_TRIGGER)
    # Edits since the upgrade are logged only on their events: log them per member, as
    # 0004 did, so that no cursor misses them.
    op.execute(
        "INSERT INTO sync_changes (user_id, event_id, at) "
        "SELECT permissions.user_id, events.id, events.updated_at FROM events "
        "JOIN permissions ON permissions.event_id = events.id WHERE events.sync_position > 0"
    )
    op.drop_column("events", "sync_position")
