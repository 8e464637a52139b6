"""Indexes for a calendar window read in two parts: the caller's own events by owner and
bounds, and the events shared with the caller (their non-owner permissions).

A window reads the caller's own events from events.owner_id and only the shared ones
through permissions (storage/events.py, `_window`), instead of joining the window with
every permission the caller holds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SHARED = sa.text("role <> 'owner'")


def upgrade() -> None:
    op.create_index(
        "ix_events_owner_id_last_end_first_start",
        "events",
        ["owner_id", "last_end", "first_start"],
    )
    op.create_index(
        "ix_permissions_shared",
        "permissions",
        ["user_id", "event_id"],
        postgresql_where=_SHARED,
        sqlite_where=_SHARED,
    )


def downgrade() -> None:
    op.drop_index("ix_permissions_shared", table_name="permissions")
    op.drop_index("ix_events_owner_id_last_end_first_start", table_name="events")
