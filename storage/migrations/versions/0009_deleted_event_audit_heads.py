"""Deleted events keep their audit chain's head, in audit_heads.

An event chain's head was only its row's audit_hash, which goes with the row: once an
event was deleted nothing recorded where its chain ended, so `tandem audit verify`
could not tell its `event_delete` record (or its whole chain) from one removed by
hand. Deleting an event now stores the chain's final hash under `event:<id>`
(storage/audit.py); this gives the events deleted before it the head their chain has
now. A record removed before the upgrade cannot be found that way: the head is
whatever the trail then ended with.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Event records carry their event's id; ids are never reused (migration 0005), so
    # a chain whose event row is gone belongs to a deleted event.
    op.execute(
        "INSERT INTO audit_heads (chain, hash) "
        "SELECT newest.chain, newest.hash FROM audit_records AS newest "
        "WHERE newest.chain LIKE 'event:%' "
        "AND newest.seq = (SELECT max(seq) FROM audit_records WHERE chain = newest.chain) "
        "AND NOT EXISTS (SELECT 1 FROM events WHERE events.id = newest.event_id)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM audit_heads WHERE chain LIKE 'event:%'")
