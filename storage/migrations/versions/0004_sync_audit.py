"""Sync change log (with tombstones) and the audit trail with its hash chain heads.

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

timestamp = sa.DateTime(timezone=True)
# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
    # A plain ADD COLUMN (SQLite takes one with a constant default): a batch copy of
    # `events` would drop the old table, and its cascades would empty the versions.
    op.add_column(
        "events", sa.Column("audit_hash", sa.String(64), nullable=False, server_default="")
    )


def downgrade() -> None:
    op.drop_column("events", "audit_hash")
    op.drop_table("audit_heads")
    op.drop_table("audit_records")
    op.drop_table("sync_changes")
