"""Initial schema: users, sessions, events, versions, permissions.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

json = sa.JSON().with_variant(JSONB(), "postgresql")
timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("username_key", sa.String(32), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username_key", name="uq_users_username_key"),
        sa.UniqueConstraint("email_key", name="uq_users_email_key"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("refresh_jti", sa.String(40), nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("refreshed_at", timestamp, nullable=False),
        sa.Column("expires_at", timestamp, nullable=False),
        sa.Column("revoked_at", timestamp, nullable=True),
        sa.Column("revoked_reason", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_sessions_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("owner_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("location", sa.String(500), nullable=True),
        sa.Column("start_time", timestamp, nullable=False),
        sa.Column("end_time", timestamp, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("all_day", sa.Boolean, nullable=False),
        sa.Column("recurrence", json, nullable=False),
        sa.Column("metadata", json, nullable=False),
        sa.Column("series_start", timestamp, nullable=False),
        sa.Column("series_end", timestamp, nullable=True),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("updated_at", timestamp, nullable=False),
        sa.Column("updated_by", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_events_owner_id_users"),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], name="fk_events_updated_by_users"),
    )
    op.create_index("ix_events_series_start_series_end", "events", ["series_start", "series_end"])
    op.create_table(
        "event_versions",
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("author_id", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("op_id", sa.String(100), nullable=True),
        sa.Column("ops", json, nullable=False),
        sa.Column("snapshot", json, nullable=False),
        sa.Column("at", timestamp, nullable=False),
        sa.PrimaryKeyConstraint("event_id", "version", name="pk_event_versions"),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name="fk_event_versions_event_id_events",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name="fk_event_versions_author_id_users"
        ),
        sa.UniqueConstraint(
            "event_id", "author_id", "op_id", name="uq_event_versions_event_id_author_id_op_id"
        ),
    )
    op.create_table(
        "permissions",
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("granted_by", sa.Integer, nullable=False),
        sa.Column("granted_at", timestamp, nullable=False),
        sa.PrimaryKeyConstraint("event_id", "user_id", name="pk_permissions"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_permissions_event_id_events", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_permissions_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["granted_by"], ["users.id"], name="fk_permissions_granted_by_users"
        ),
    )
    op.create_index("ix_permissions_user_id_event_id", "permissions", ["user_id", "event_id"])


def downgrade() -> None:
    op.drop_table("permissions")
    op.drop_table("event_versions")
    op.drop_table("events")
    op.drop_table("sessions")
    op.drop_table("users")
