"""Occurrence overrides and iCalendar UIDs on events; calendar feeds.

Revision ID: 0003
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

json = sa.JSON().with_variant(JSONB(), "postgresql")
timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    # No batch (table rebuild) on SQLite: its DROP TABLE, with foreign keys on, would
    # delete every permission and version of the events through ON DELETE CASCADE.
    op.add_column("events", sa.Column("overrides", json, nullable=False, server_default="{}"))
    op.add_column("events", sa.Column("uid", sa.String(255), nullable=True))
    # Existing events get the UID a new one would have.
    events = sa.table("events", sa.column("id", sa.Integer), sa.column("uid", sa.String))
    connection = op.get_bind()
    ids = connection.execute(sa.select(events.c.id).where(events.c.uid.is_(None))).scalars()
    for event_id in list(ids):
        connection.execute(
            events.update().where(events.c.id == event_id).values(uid=f"{uuid.uuid4()}@tandem")
        )
    # Required from now on; SQLite cannot add NOT NULL without that rebuild, and the
    # server writes a UID with every event there too.
    if connection.dialect.name == "postgresql":
        op.alter_column("events", "uid", existing_type=sa.String(255), nullable=False)
    op.create_index("ix_events_owner_id_uid", "events", ["owner_id", "uid"], unique=True)
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
        sa.Column("last_used_at", timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feeds"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_feeds_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("token_hash", name="uq_feeds_token_hash"),
    )
    op.create_index("ix_feeds_user_id", "feeds", ["user_id"])


def downgrade() -> None:
    op.drop_table("feeds")
    op.drop_index("ix_events_owner_id_uid", table_name="events")
    op.drop_column("events", "uid")
    op.drop_column("events", "overrides")
