"""Sync change log (with tombstones) and the audit trail with its hash chain heads.

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

timestamp = sa.DateTime(timezone=True)
# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Every version row (a create or any edit) logs a sync change for everyone with
# access, in the statement that inserts it: the hottest write path pays no round
# trip for it. On PostgreSQL the shared advisory locks come first, before any
# position is drawn (storage/sync_log.py says why). 1937337955 is its _LOCK_SPACE.
_PG_LOG_VERSION = """
CREATE FUNCTION tandem_log_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1937337955, user_id)
        FROM permissions WHERE event_id = NEW.event_id;
    INSERT INTO sync_changes (user_id, event_id, at)
        SELECT user_id, NEW.event_id, NEW.at FROM permissions WHERE event_id = NEW.event_id;
    RETURN NULL;
END
$$
"""
_PG_TRIGGER = (
    "CREATE TRIGGER event_versions_log_sync AFTER INSERT ON event_versions "
    "FOR EACH ROW EXECUTE FUNCTION tandem_log_version()"
)
_SQLITE_TRIGGER = """
CREATE TRIGGER event_versions_log_sync AFTER INSERT ON event_versions
BEGIN
    INSERT INTO sync_changes (user_id, event_id, at)
        SELECT user_id, NEW.event_id, NEW.at FROM permissions WHERE event_id = NEW.event_id;
END
"""


def upgrade() -> None:
    op.create_table(
        "sync_changes",
        sa.Column("position", big_id, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("at", timestamp, nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_sync_changes"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_sync_changes_user_id_users", ondelete="CASCADE"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sync_changes_user_id_position", "sync_changes", ["user_id", "position"])
    op.create_index("ix_sync_changes_at", "sync_changes", ["at"])
    op.create_table(
        "audit_records",
        sa.Column("seq", big_id, primary_key=True, autoincrement=True),
        sa.Column("chain", sa.String(40), nullable=False),
        sa.Column("at", timestamp, nullable=False),
        sa.Column("actor_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("event_id", sa.Integer, nullable=True),
        sa.Column("target_user_id", sa.Integer, nullable=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_records"),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name="fk_audit_records_actor_id_users"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_records_chain_seq", "audit_records", ["chain", "seq"])
    op.create_index("ix_audit_records_actor_id_seq", "audit_records", ["actor_id", "seq"])
    op.create_table(
        "audit_heads",
        sa.Column("chain", sa.String(40), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name="pk_audit_heads"),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(_PG_LOG_VERSION)
        op.execute(_PG_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)
    # A plain ADD COLUMN (SQLite takes one with a constant default): a batch copy of
    # `events` would drop the old table, and its cascades would empty the versions.
    op.add_column(
        "events", sa.Column("audit_hash", sa.String(64), nullable=False, server_default="")
    )


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER event_versions_log_sync"
        + (" ON event_versions" if op.get_context().dialect.name == "postgresql" else "")
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION tandem_log_version()")
    op.drop_column("events", "audit_hash")
    op.drop_table("audit_heads")
    op.drop_table("audit_records")
    op.drop_table("sync_changes")
