"""Occurrence bounds: each event's first occurrence start and last occurrence end.

They replace series_start/series_end, whose NULL end for an open-ended rule made the
window filter an OR that no index could serve. New events get them from the edit
engine; this fills them for existing ones, in chunks, with a progress line for large
tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from storage.column_types import JSONDocument, UTCDateTime
from storage.document import format_time
from storage.recurrence import FAR_FUTURE, event_bounds
from storage.recurrence_rules import RecurrenceError

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHUNK = 1000
PROGRESS_FROM = 10_000  # rows: smaller tables fill silently
FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)
log = logging.getLogger("tandem.migrations")

events = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("start_time", UTCDateTime),
    sa.column("end_time", UTCDateTime),
    sa.column("timezone", sa.String),
    sa.column("recurrence", JSONDocument),
    sa.column("first_start", UTCDateTime),
    sa.column("last_end", UTCDateTime),
    sa.column("series_start", UTCDateTime),
    sa.column("series_end", UTCDateTime),
)


def _default(moment: datetime) -> sa.TextClause:
    # As each database stores a timestamp; SQLite keeps it as text, naive UTC.
    if op.get_bind().dialect.name == "sqlite":
        return sa.text(f"'{moment.replace(tzinfo=None).isoformat(sep=' ')}'")
    return sa.text(f"'{moment.isoformat()}'")


def upgrade() -> None:
    # Until a row is filled its bounds are "always": a window query over-includes it
    # (and the exact check in Python drops it) rather than missing it.
    timestamp = sa.DateTime(timezone=True)
    op.add_column(
        "events",
        sa.Column("first_start", timestamp, nullable=False, server_default=_default(FAR_PAST)),
    )
    op.add_column(
        "events",
        sa.Column("last_end", timestamp, nullable=False, server_default=_default(FAR_FUTURE)),
    )
    _fill()
    op.drop_index("ix_events_series_start_series_end", table_name="events")
    # SQLite cannot drop a column default without rebuilding the table (which, with
    # foreign keys on, would cascade-delete every version): there it stays, unused.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "first_start", server_default=None)
        op.alter_column("events", "last_end", server_default=None)
    op.execute("ALTER TABLE events DROP COLUMN series_start")
    op.execute("ALTER TABLE events DROP COLUMN series_end")
    op.create_index("ix_events_last_end_first_start", "events", ["last_end", "first_start"])


def _fill() -> None:
    bind = op.get_bind()
    total = bind.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    done, after = 0, 0
    while True:
        rows = bind.execute(
            sa.select(
                events.c.id,
                events.c.start_time,
                events.c.end_time,
                events.c.timezone,
                events.c.recurrence,
            )
            .where(events.c.id > after)
            .order_by(events.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        bind.execute(
            events.update()
            .where(events.c.id == sa.bindparam("row_id"))
            .values(first_start=sa.bindparam("first"), last_end=sa.bindparam("last")),
            [_bounds_of(row) for row in rows],
        )
        done, after = done + len(rows), rows[-1].id
        if total >= PROGRESS_FROM:
            log.info("0002: occurrence bounds of %d / %d events", done, total)


def _bounds_of(row: sa.Row) -> dict[str, object]:
    document = {
        "start_time": format_time(row.start_time),
        "end_time": format_time(row.end_time),
        "timezone": row.timezone,
        "recurrence": row.recurrence,
    }
    try:
        first, last = event_bounds(document)
    except RecurrenceError:  # stored before a rule was refused: kept in every window
        log.warning("0002: event %d has an unusable recurrence; bounds left open", row.id)
        first, last = FAR_PAST, FAR_FUTURE
    return {"row_id": row.id, "first": first, "last": last}


def downgrade() -> None:
    timestamp = sa.DateTime(timezone=True)
    op.drop_index("ix_events_last_end_first_start", table_name="events")
    op.add_column("events", sa.Column("series_start", timestamp, nullable=True))
    op.add_column("events", sa.Column("series_end", timestamp, nullable=True))
    open_ended = sa.case((events.c.last_end >= FAR_FUTURE, sa.null()), else_=events.c.last_end)
    op.get_bind().execute(
        events.update().values(series_start=events.c.first_start, series_end=open_ended)
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "series_start", nullable=False)
    op.execute("ALTER TABLE events DROP COLUMN first_start")
    op.execute("ALTER TABLE events DROP COLUMN last_end")
    op.create_index("ix_events_series_start_series_end", "events", ["series_start", "series_end"])
