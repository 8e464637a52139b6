"""Reading events: one by id, as of a time, listings with windows, and conflicts."""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit, sync_log
from storage.document import format_time
from storage.errors import not_found, validation_error
from storage.overrides import occurrences_as_now, occurs_between
from storage.records import RECORD_COLUMNS, EventRecord, event_record, version_record
from storage.tables import event_versions, events, permissions

# Rows fetched per round when recurring events must be checked in Python.
_BATCH = 200


# asyncpg prepares every statement, and after five runs PostgreSQL may switch to a
# generic plan, blind to the window's bounds. With the statistics a bulk import left
# stale, that plan for a month listing was a nested loop 300x slower than the plan
# for the actual bounds. Window queries are therefore planned for each run's bounds.
_PLAN_FOR_THESE_BOUNDS = sa.text("SET LOCAL plan_cache_mode = force_custom_plan")


async def _plan_for_the_bounds(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(_PLAN_FOR_THESE_BOUNDS)


class Occurrence(msgspec.Struct, frozen=True):
    """One occurrence as it now is (overrides applied). A struct rather than a dataclass:
    a month's conflicts make thousands, and a struct is made ten times faster."""

    event: EventRecord
    role: str
    start: datetime
    end: datetime
    # The original start in UTC, as the overrides key it; None for a single event.
    original: datetime | None
    # The overridden title/description/location/metadata of this occurrence.
    fields: Mapping[str, Any]

    @property
    def occurrence_id(self) -> str | None:
        return None if self.original is None else format_time(self.original)

    @property
    def title(self) -> str:
        return self.fields.get("title", self.event.document["title"])  # type: ignore[no-any-return]


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
    return sa.select(*RECORD_COLUMNS, permissions.c.role).join(
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
    # The occurrence bounds (ix_events_last_end_first_start): only events whose bounds
    # touch the window reach Python, where recurring ones are checked exactly; no OR,
    # no NULL, so both databases can range over the index. EXPLAIN ANALYZE, PostgreSQL
    # 15, the bench calendar (13,000 events, 10,000 of one user; machine loaded):
    # - June 2031 (130 events overlap): Bitmap Index Scan on the index, 3 buffers,
    #   then a hash join with the user's permissions; 2.6 ms.
    # - June 2026, amid the data (1,206 overlap, 9%): a Seq Scan of events filtered on
    #   the bounds is cheaper than the index and chosen; 3.3 ms for all 714 of the
    #   user's rows; with LIMIT 201 (plain listing) a merge join in id order, 2.1 ms.
    #   A GiST index on tstzrange(first_start, last_end) with && measured 4.3 ms there:
    #   no gain at this size, and SQLite has no equivalent.
    # - Paging single events in SQL for expand=true (a UNION ALL of the single events
    #   ordered by (first_start, id) LIMIT 201 and every series in the window; 10,000
    #   events of one user, load 6-7): 8.5 ms against 4.4 ms for this one query (two
    #   scans of events, and the jsonb comparison telling them apart), to spare Python
    #   about 170 rows, which cost less than the 4 ms. Not done.
    if end is not None:
        query = query.where(events.c.first_start < end)
    if start is not None:
        query = query.where(events.c.last_end > start)
    return query


def visible_in_window(user_id: int, start: datetime, end: datetime) -> sa.Select[Any]:
    """The caller's events whose bounds touch the window, by id (for window_rows)."""
    return _window_filter(_visible(user_id), start, end).order_by(events.c.id)


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


async def list_events(
    conn: AsyncConnection, q: EventQuery
) -> tuple[list[tuple[EventRecord, str]], str | None]:
    """One page of the caller's events, in id order (stable while events change)."""
    after = _decode_cursor(q, "list", 1)[0] if q.cursor else 0
    items: list[tuple[EventRecord, str]] = []
    windowed = q.start is not None and q.end is not None
    if windowed:
        await _plan_for_the_bounds(conn)
    # A page and the one row that says another follows: one round trip unless
    # recurring events without an occurrence in the window were dropped.
    batch_size = q.limit + 1
    while len(items) <= q.limit:
        rows = (
            await conn.execute(
                _filtered(q).where(events.c.id > after).order_by(events.c.id).limit(batch_size)
            )
        ).all()
        for row in rows:
            event = event_record(row)
            after = event.id
            if windowed and event.document["recurrence"]:
                # The bounds alone may span a gap in a series: is an occurrence in it?
                assert q.start is not None and q.end is not None
                if not occurs_between(event.document, q.start, q.end):
                    continue
            items.append((event, row.role))
            if len(items) > q.limit:
                break
        if len(rows) < batch_size:
            break
        batch_size = _BATCH
    if len(items) > q.limit:
        items = items[: q.limit]
        return items, _encode_cursor(q, "list", items[-1][0].id)
    return items, None


async def list_occurrences(
    conn: AsyncConnection, q: EventQuery
) -> tuple[list[Occurrence], str | None]:
    """One page of occurrences in the window, ordered by (start, event id).

    Nothing before the cursor is expanded, and only `limit + 1` occurrences after it
    are: a page's memory and work follow the events in the window, never how many
    occurrences it holds.
    """
    assert q.start is not None and q.end is not None
    seek, after = q.start, None
    if q.cursor:
        after = _cursor_key(_decode_cursor(q, "expand", 3))
        seek = max(q.start, after[0])
    # What starts at or after `seek` ends after it: events that end sooner drop out in SQL.
    query = _window_filter(_filtered(q), seek, None).order_by(events.c.id)
    found = merged_occurrences(await window_rows(conn, query), seek, q.end)
    if after is not None:
        found = (o for o in found if occurrence_key(o) > after)
    page = list(islice(found, q.limit + 1))
    if len(page) > q.limit:
        page = page[: q.limit]
        start, event_id, original = occurrence_key(page[-1])
        return page, _encode_cursor(q, "expand", _micros(start), event_id, _micros(original))
    return page, None


async def window_rows(
    conn: AsyncConnection, query: sa.Select[Any]
) -> list[tuple[EventRecord, str]]:
    """The rows of a window query (planned for its bounds), with the caller's role."""
    await _plan_for_the_bounds(conn)
    return [(event_record(row), row.role) for row in await conn.execute(query)]


def merged_occurrences(
    rows: Iterable[tuple[EventRecord, str]], start: datetime, end: datetime
) -> Iterator[Occurrence]:
    """The events' occurrences in the window in expanded order, lazily: a k-way merge of
    one generator per series (and one sorted list of the single events' occurrences),
    so memory follows the events, never the occurrences."""
    single: list[Occurrence] = []
    series = []
    for event, role in rows:
        if event.document["recurrence"]:
            series.append(occurrences_of(event, role, start, end))
        else:
            single.extend(occurrences_of(event, role, start, end))
    single.sort(key=occurrence_key)
    return heapq.merge(single, *series, key=occurrence_key)


def occurrences_of(
    event: EventRecord, role: str, start: datetime, end: datetime
) -> Iterator[Occurrence]:
    """The event's occurrences overlapping the window, by start (overrides applied)."""
    for occ_start, original, occ_end, fields in occurrences_as_now(event.document, start, end):
        yield Occurrence(event, role, occ_start, occ_end, original, fields)


def occurrence_key(occ: Occurrence) -> tuple[datetime, int, datetime]:
    """An occurrence's place in expanded order: start, event id, then original start, as
    two occurrences of one series may be moved to the same start. Unique, so a cursor
    (this key) never skips or repeats an occurrence."""
    return occ.start, occ.event.id, occ.original or occ.start


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    """Microseconds since 1970: a time in a cursor, exactly."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _cursor_key(values: list[int]) -> tuple[datetime, int, datetime]:
    start, event_id, original = values
    try:
        return (
            _EPOCH + timedelta(microseconds=start),
            event_id,
            _EPOCH + timedelta(microseconds=original),
        )
    except OverflowError:  # not a time: no listing gave it out
        raise validation_error({"cursor": "is not a cursor this listing gave out"}) from None


def _encode_cursor(q: EventQuery, kind: str, *values: int) -> str:
    text = ":".join([_fingerprint(q, kind), *map(str, values)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(q: EventQuery, kind: str, parts: int) -> list[int]:
    """The cursor's values; validation_error unless this very query gave it out."""
    assert q.cursor is not None
    try:
        text = base64.urlsafe_b64decode(q.cursor + "=" * (-len(q.cursor) % 4)).decode()
        fingerprint, *values = text.split(":")
        numbers = [int(v) for v in values]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        fingerprint, numbers = "", []
    if fingerprint != _fingerprint(q, kind) or len(numbers) != parts:
        raise validation_error({"cursor": "is not a cursor this listing gave out"})
    return numbers


def _fingerprint(q: EventQuery, kind: str) -> str:
    """What a cursor is bound to: the listing's kind and filters (not its page size)."""
    fields = (kind, q.user_id, q.start, q.end, q.text, q.role)
    return hashlib.blake2b(repr(fields).encode(), digest_size=6).hexdigest()


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
