"""Reading events: one by id, as of a time, listings with windows, and conflicts."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit, sync_log
from storage.document import format_time, parse_time
from storage.errors import ErrorCode, TandemError, not_found, validation_error
from storage.records import EventRecord, event_record, version_record
from storage.recurrence import occurrences
from storage.tables import event_versions, events, permissions

# Rows fetched per round when recurring events must be checked in Python.
_BATCH = 200
# The most occurrences one listing or conflict search expands; past it the
# answer says so instead of running away on a dense calendar.
MAX_EXPANDED = 10_000
# How far ahead a new or changed event is checked for schedule conflicts: a
# rule without end would otherwise be compared with the rest of time.
CONFLICT_HORIZON = timedelta(days=366)


# asyncpg prepares every statement, and after five runs PostgreSQL may switch to a
# generic plan, blind to the window's bounds. With the statistics a bulk import left
# stale, that plan for a month listing was a nested loop 300x slower than the plan
# for the actual bounds. Window queries are therefore planned for each run's bounds.
_PLAN_FOR_THESE_BOUNDS = sa.text("SET LOCAL plan_cache_mode = force_custom_plan")


async def _plan_for_the_bounds(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(_PLAN_FOR_THESE_BOUNDS)


@dataclass(frozen=True)
class Occurrence:
    event: EventRecord
    role: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class EventQuery:
    user_id: int
    start: datetime | None = None
    end: datetime | None = None
    text: str | None = None
    role: str | None = None
    limit: int = 50
    cursor: str | None = None


def _visible(user_id: int) -> sa.Select[Any]:
    return sa.select(events, permissions.c.role).join(
        permissions,
        sa.and_(permissions.c.event_id == events.c.id, permissions.c.user_id == user_id),
    )


async def exists(conn: AsyncConnection, event_id: int) -> bool:
    query = sa.select(sa.literal(1)).select_from(events).where(events.c.id == event_id)
    return (await conn.execute(query)).first() is not None


async def get_visible_event(
    conn: AsyncConnection, event_id: int, user_id: int
) -> tuple[EventRecord, str]:
    """The event and the caller's role; not_found when the caller has no access at all."""
    row = (await conn.execute(_visible(user_id).where(events.c.id == event_id))).first()
    if row is None:
        raise not_found(f"event {event_id}")
    return event_record(row), row.role


async def event_as_of(
    conn: AsyncConnection, event_id: int, user_id: int, at: datetime
) -> tuple[EventRecord, str]:
    """The event's document as it stood at `at`, with that version's number."""
    current, role = await get_visible_event(conn, event_id, user_id)
    row = (
        await conn.execute(
            sa.select(event_versions)
            .where(event_versions.c.event_id == event_id, event_versions.c.at <= at)
            .order_by(event_versions.c.version.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        raise not_found(f"event {event_id} did not exist at that time")
    return current.as_of(version_record(row)), role


def _window_filter(
    query: sa.Select[Any], start: datetime | None, end: datetime | None
) -> sa.Select[Any]:
    # The stored series span makes this an index range: only events whose span
    # touches the window reach Python, where recurring ones are checked exactly.
    if end is not None:
        query = query.where(events.c.series_start < end)
    if start is not None:
        query = query.where(sa.or_(events.c.series_end.is_(None), events.c.series_end > start))
    return query


def _filtered(q: EventQuery) -> sa.Select[Any]:
    query = _window_filter(_visible(q.user_id), q.start, q.end)
    if q.role is not None:
        query = query.where(permissions.c.role == q.role)
    if q.text:
        pattern = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                events.c.title.ilike(pattern, escape="\\"),
                events.c.description.ilike(pattern, escape="\\"),
                events.c.location.ilike(pattern, escape="\\"),
            )
        )
    return query


def _event_occurrences(
    event: EventRecord, start: datetime, end: datetime, limit: int = MAX_EXPANDED
) -> list[tuple[datetime, datetime]]:
    doc = event.document
    first, last = parse_time(doc["start_time"]), parse_time(doc["end_time"])
    assert first is not None and last is not None
    return occurrences(first, last, doc["timezone"], doc["recurrence"], start, end, limit)


async def list_events(
    conn: AsyncConnection, q: EventQuery
) -> tuple[list[tuple[EventRecord, str]], str | None]:
    """One page of the caller's events, in id order (stable while events change)."""
    after = int(_decode_cursor(q.cursor, 1)[0]) if q.cursor else 0
    items: list[tuple[EventRecord, str]] = []
    windowed = q.start is not None and q.end is not None
    if windowed:
        await _plan_for_the_bounds(conn)
    while len(items) <= q.limit:
        batch_size = _BATCH if windowed else q.limit + 1
        rows = (
            await conn.execute(
                _filtered(q).where(events.c.id > after).order_by(events.c.id).limit(batch_size)
            )
        ).all()
        for row in rows:
            event = event_record(row)
            after = event.id
            if windowed and event.document["recurrence"]:
                assert q.start is not None and q.end is not None
                if not _event_occurrences(event, q.start, q.end, limit=1):
                    continue  # the span touches the window, but no occurrence does
            items.append((event, row.role))
            if len(items) > q.limit:
                break
        if len(rows) < batch_size:
            break
    if len(items) > q.limit:
        items = items[: q.limit]
        return items, _encode_cursor(items[-1][0].id)
    return items, None


async def window_occurrences(
    conn: AsyncConnection, user_id: int, start: datetime, end: datetime, q: EventQuery | None = None
) -> list[Occurrence]:
    """Every occurrence of the caller's events overlapping the window, by start time."""
    query = _filtered(q) if q is not None else _window_filter(_visible(user_id), start, end)
    await _plan_for_the_bounds(conn)
    found: list[Occurrence] = []
    for row in await conn.execute(query.order_by(events.c.id)):
        event = event_record(row)
        for occ_start, occ_end in _event_occurrences(event, start, end):
            found.append(Occurrence(event, row.role, occ_start, occ_end))
        if len(found) > MAX_EXPANDED:
            raise validation_error(
                {"end": f"the window holds more than {MAX_EXPANDED} occurrences; narrow it"}
            )
    found.sort(key=lambda o: (o.start, o.event.id))
    return found


async def list_occurrences(
    conn: AsyncConnection, q: EventQuery
) -> tuple[list[Occurrence], str | None]:
    """One page of occurrences in the window, ordered by (start, event id)."""
    assert q.start is not None and q.end is not None
    everything = await window_occurrences(conn, q.user_id, q.start, q.end, q)
    if q.cursor:
        stamp, event_id = _decode_cursor(q.cursor, 2)
        everything = [
            o for o in everything if (o.start.timestamp(), o.event.id) > (stamp, event_id)
        ]
    page = everything[: q.limit]
    more = len(everything) > q.limit
    cursor = _encode_cursor(page[-1].start.timestamp(), page[-1].event.id) if more else None
    return page, cursor


def overlapping_pairs(found: list[Occurrence]) -> list[tuple[Occurrence, Occurrence]]:
    """Every pair of occurrences of different events that overlap in time (sweep by start)."""
    pairs: list[tuple[Occurrence, Occurrence]] = []
    active: list[Occurrence] = []
    for occ in sorted(found, key=lambda o: (o.start, o.event.id)):
        active = [a for a in active if a.end > occ.start]
        pairs.extend((a, occ) for a in active if a.event.id != occ.event.id)
        active.append(occ)
    return pairs


async def conflicts_with(
    conn: AsyncConnection, user_id: int, document: dict[str, Any], exclude_event_id: int | None
) -> list[tuple[Occurrence, tuple[datetime, datetime]]]:
    """The caller's occurrences that overlap an occurrence of `document` within the horizon."""
    start, end = parse_time(document["start_time"]), parse_time(document["end_time"])
    assert start is not None and end is not None
    horizon = (start, start + CONFLICT_HORIZON)
    mine = occurrences(start, end, document["timezone"], document["recurrence"], *horizon)
    if not mine:
        return []
    window_start, window_end = mine[0][0], max(e for _, e in mine)
    theirs = [
        o
        for o in await window_occurrences(conn, user_id, window_start, window_end)
        if o.event.id != exclude_event_id
    ]
    clashes = []
    for occ in theirs:
        for pair in mine:
            if occ.start < pair[1] and occ.end > pair[0]:
                clashes.append((occ, pair))
                break
    return clashes


async def refuse_schedule_conflicts(
    conn: AsyncConnection, user_id: int, document: dict[str, Any], exclude_event_id: int | None
) -> None:
    """schedule_conflict, naming each clash, when `document` overlaps the caller's events."""
    clashes = await conflicts_with(conn, user_id, document, exclude_event_id)
    if clashes:
        raise TandemError(
            ErrorCode.SCHEDULE_CONFLICT,
            f"the event overlaps {len(clashes)} other event occurrence(s)",
            {"conflicts": [conflict_json(occurrence) for occurrence, _ in clashes]},
        )


def conflict_json(occurrence: Occurrence) -> dict[str, Any]:
    """One side of a conflict, as the contract names it."""
    return {
        "event_id": occurrence.event.id,
        "title": occurrence.event.document["title"],
        "start": format_time(occurrence.start),
        "end": format_time(occurrence.end),
    }


def _encode_cursor(*values: float | int) -> str:
    text = ":".join(repr(v) for v in values)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, parts: int) -> list[float]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        values = [float(v) for v in text.split(":")]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        values = []
    if len(values) != parts:
        raise validation_error({"cursor": "is not a cursor this listing gave out"})
    return values


async def delete_event(
    conn: AsyncConnection, event_id: int, deleted_by: int, now: datetime
) -> None:
    """Delete an event the caller has locked; its sync tombstones and the last record of
    its audit chain stay behind."""
    row = (
        await conn.execute(
            sa.select(events.c.version, events.c.audit_hash).where(events.c.id == event_id)
        )
    ).one()
    await sync_log.touch(conn, event_id, now)
    deleted = audit.entry("event_delete", now, deleted_by, event_id=event_id, version=row.version)
    await audit.append_to_event(conn, deleted, previous=row.audit_hash, update_head=False)
    await conn.execute(events.delete().where(events.c.id == event_id))
