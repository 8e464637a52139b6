"""Reading events: one by id, as of a time, listings with windows, and conflicts."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit, sync_log
from storage.database import Database
from storage.errors import TandemError, not_found, validation_error
from storage.json_columns import read_json
from storage.overrides import expansion_of
from storage.point_reads import read_row
from storage.records import (
    MAX_ID,
    RECORD_COLUMNS,
    EventRecord,
    event_record,
    format_stored_time,
    version_record,
)
from storage.snapshot import Row, SnapshotRows, as_text
from storage.tables import event_versions, events, permissions
from storage.window_entries import first_entries

# Rows fetched per round when recurring events must be checked in Python.
_BATCH = 200


class Occurrence(msgspec.Struct, frozen=True):
    """One occurrence of an expanded page as it now is (overrides applied), with its
    event read whole. Below the page, occurrences are plain tuples (`Entry`)."""

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
        return None if self.original is None else format_stored_time(self.original)


@dataclass(frozen=True)
class EventQuery:
    user_id: int
    start: datetime | None = None
    end: datetime | None = None
    text: str | None = None
    role: str | None = None
    limit: int = 50
    cursor: str | None = None


async def exists(conn: AsyncConnection, event_id: int) -> bool:
    query = sa.select(sa.literal(1)).select_from(events).where(events.c.id == event_id)
    return (await conn.execute(query)).first() is not None


async def get_visible_event(
    conn: AsyncConnection, event_id: int, user_id: int
) -> tuple[EventRecord, str]:
    """The event and the caller's role; not_found when the caller has no access at all."""
    row = (await conn.execute(_visible_event(), {"id": event_id, "user_id": user_id})).first()
    return _visible(event_id, None if row is None else row._mapping)


async def read_visible_event(
    database: Database, event_id: int, user_id: int
) -> tuple[EventRecord, str]:
    """`get_visible_event` on its own, sent the cheapest way (storage/point_reads.py): every
    socket's join and most reads of one event."""
    row = await read_row(database, _visible_event(), {"id": event_id, "user_id": user_id})
    return _visible(event_id, row)


def _visible(event_id: int, row: Mapping[str, Any] | None) -> tuple[EventRecord, str]:
    if row is None:
        raise not_found(f"event {event_id}")
    return event_record(row), row["role"]


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


def _window_filter(query: sa.Select[Any], start: bool, end: bool) -> sa.Select[Any]:
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
    if end:
        query = query.where(events.c.first_start < sa.bindparam("end"))
    if start:
        query = query.where(events.c.last_end > sa.bindparam("start"))
    return query


# The window's statements are built once per shape (which filters apply), with the
# values bound: storage.snapshot compiles each once.
_JSON_COLUMNS = ("recurrence", "metadata", "overrides")
# What an event record is read from, JSON as text (decoded by `_record`).
_WHOLE = [as_text(c) if c.key in _JSON_COLUMNS else c for c in RECORD_COLUMNS]
# What the expansion reads of every event in a window (`merged`): the page's events are
# then read whole, a few hundred rows fewer. Rules and overrides stay text: a series
# parsed before is found by them without decoding (storage.overrides.expansion_of).
_LIGHT = (
    events.c.id,
    events.c.title,
    events.c.start_time,
    events.c.end_time,
    events.c.timezone,
    as_text(events.c.recurrence),
    as_text(events.c.overrides),
    # What the page's events read whole must still be (`_agree`).
    events.c.version,
    events.c.owner_id,
)


def _visible_select(*columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """The caller's (`user_id`) events, with the caller's role as the last column."""
    visible = events.join(
        permissions,
        sa.and_(
            permissions.c.event_id == events.c.id,
            permissions.c.user_id == sa.bindparam("user_id"),
        ),
    )
    return sa.select(*columns, permissions.c.role).select_from(visible)


@cache
def _visible_event() -> sa.Select[Any]:
    """One event's record with the caller's role: built once, as every socket's join
    and most requests read it (building it on each call was a third of the call or more)."""
    return _visible_select(*RECORD_COLUMNS).where(events.c.id == sa.bindparam("id"))


def _filters(
    query: sa.Select[Any], text: bool, role: sa.ColumnElement[str] | None
) -> sa.Select[Any]:
    """The listing's filters: text in the title, description or location, and the
    caller's role (the column `role` that holds it), when asked."""
    if role is not None:
        query = query.where(role == sa.bindparam("role"))
    if text:
        pattern: sa.BindParameter[str] = sa.bindparam("pattern")
        query = query.where(
            sa.or_(
                events.c.title.ilike(pattern, escape="\\"),
                events.c.description.ilike(pattern, escape="\\"),
                events.c.location.ilike(pattern, escape="\\"),
            )
        )
    return query


@cache
def _listing(start: bool, end: bool, text: bool, role: bool) -> sa.Select[Any]:
    """A plain listing's batch: whole records after the id `after`, `batch` of them."""
    query = _window_filter(_visible_select(*_WHOLE), start, end)
    query = _filters(query, text, permissions.c.role if role else None)
    return (
        query.where(permissions.c.event_id > sa.bindparam("after"))
        .order_by(permissions.c.event_id)
        .limit(sa.bindparam("batch", type_=sa.Integer))
    )


@cache
def _window(text: bool, role: bool, excluded: bool) -> sa.CompoundSelect:
    """The light rows of every event whose bounds touch the window [start, end), in no
    particular order (the expansion orders occurrences itself), the role last.

    The caller's own events come from events alone: an event has one owner, its
    owner_id, whose permission says "owner" (storage/permissions.py keeps both in one
    transaction). Only the events shared with the caller are joined with permissions,
    through ix_permissions_shared. pgbench, one client, the bench calendar (10,000
    events of one user, June 2026, 714 rows): 3.73 ms as one join with all the
    caller's permissions (a hash join of two sequential scans), 2.35 ms so.
    """
    # Written into the SQL, not bound: PostgreSQL proves the partial index's predicate
    # from the query only for a constant.
    owner = sa.literal_column("'owner'", sa.String)
    owner_role = owner.label("role")
    owned = sa.select(*_LIGHT, owner_role).where(events.c.owner_id == sa.bindparam("user_id"))
    shared_with = events.join(
        permissions,
        sa.and_(
            permissions.c.event_id == events.c.id,
            permissions.c.user_id == sa.bindparam("user_id"),
            permissions.c.role != owner,
        ),
    )
    shared = sa.select(*_LIGHT, permissions.c.role).select_from(shared_with)
    parts = []
    for query, role_column in ((owned, owner), (shared, permissions.c.role)):
        query = _filters(_window_filter(query, True, True), text, role_column if role else None)
        if excluded:
            query = query.where(events.c.id != sa.bindparam("excluded"))
        parts.append(query)
    return sa.union_all(*parts)


@cache
def _page_events(arrays: bool) -> sa.Select[Any]:
    """Whole records, with the caller's role, of the events `ids`."""
    ids = (
        events.c.id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.Integer)))
        if arrays
        else events.c.id.in_(sa.bindparam("ids", expanding=True))
    )
    return _visible_select(*_WHOLE).where(ids)


def _params(q: EventQuery, **values: Any) -> dict[str, Any]:
    """A query's filters as the statements bind them."""
    params = {"user_id": q.user_id, "start": q.start, "end": q.end, "role": q.role, **values}
    if q.text:
        text = q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["pattern"] = f"%{text}%"
    return params


def _record(row: Row) -> EventRecord:
    """A record from a row of `_WHOLE` (the role after it is left alone)."""
    (
        event_id, owner_id, version, title, description, location, start, end, timezone,
        all_day, recurrence, metadata, overrides, created_at, updated_at, updated_by, uid,
    ) = row[:17]  # fmt: skip
    document = {
        "title": title,
        "description": description,
        "location": location,
        "start_time": format_stored_time(start),
        "end_time": format_stored_time(end),
        "timezone": timezone,
        "all_day": all_day,
        "recurrence": _json(recurrence),
        "metadata": _json(metadata),
        "overrides": _json(overrides),
    }
    return EventRecord(
        event_id, owner_id, version, document, created_at, updated_at, updated_by, uid
    )


def _json(text: str) -> Any:
    """A JSON column's value; most are empty, and made here without a decoder."""
    if text == "{}":
        return {}
    return [] if text == "[]" else read_json(text)


async def list_events(
    reader: SnapshotRows, q: EventQuery
) -> tuple[list[tuple[EventRecord, str]], str | None]:
    """One page of the caller's events, in id order (stable while events change)."""
    after = _cursor_id(_decode_cursor(q, "list", 1)[0]) if q.cursor else 0
    items: list[tuple[EventRecord, str]] = []
    # Each bound alone filters too: `start` keeps what ends after it, `end` what starts
    # before it.
    windowed = q.start is not None or q.end is not None
    statement = _listing(q.start is not None, q.end is not None, bool(q.text), q.role is not None)
    # A page and the one row that says another follows: one round trip unless
    # recurring events without an occurrence in the window were dropped.
    batch = q.limit + 1
    while len(items) <= q.limit:
        rows = await reader.rows(statement, _params(q, after=after, batch=batch))
        for row in rows:
            after = row[0]
            if windowed:
                # The bounds alone may span a gap in a series: is an occurrence in it?
                # (`_WHOLE`'s start, end, zone, rules and overrides.)
                expansion = expansion_of(row[6], row[7], row[8], row[10], row[12])
                if expansion is not None and not expansion.occurs_between(q.start, q.end):
                    continue
            items.append((_record(row), row[-1]))
            if len(items) > q.limit:
                break
        if len(rows) < batch:
            break
        batch = _BATCH
    if len(items) > q.limit:
        items = items[: q.limit]
        return items, _encode_cursor(q, "list", items[-1][0].id)
    return items, None


async def list_occurrences(
    reader: SnapshotRows, q: EventQuery
) -> tuple[list[Occurrence], str | None]:
    """One page of occurrences in the window, ordered by (start, event id).

    Nothing before the cursor is expanded, and only `limit + 1` occurrences after it
    are: a page's memory and work follow the events in the window, never how many
    occurrences it holds. The window's events are read light; the page's, whole.
    """
    assert q.start is not None and q.end is not None
    seek, after = q.start, None
    if q.cursor:
        after = _cursor_key(_decode_cursor(q, "expand", 3))
        seek = max(q.start, after[0])
    # What starts at or after `seek` ends after it: events that end sooner drop out in SQL.
    statement = _window(bool(q.text), q.role is not None, False)
    rows = await reader.rows(statement, _params(q, start=seek))
    page = first_entries(rows, seek, q.end, q.limit + 1, after)
    more = len(page) > q.limit
    page = page[: q.limit]
    ids = {entry[1] for entry in page}
    rows_whole = []
    if ids:
        params = {"user_id": q.user_id, "ids": list(ids)}
        rows_whole = await reader.rows_to_check(_page_events(reader.arrays), params)
        if not _agree([row for row in rows if row[0] in ids], rows_whole):
            reader.disagreed()
    whole = {row[0]: (_record(row), row[-1]) for row in rows_whole}
    occurrences = [
        Occurrence(*whole[event_id], start, end, original, fields)
        for start, event_id, _, end, original, fields in page
    ]
    if more:
        start, event_id, original = page[-1][:3]
        return occurrences, _encode_cursor(q, "expand", _micros(start), event_id, _micros(original))
    return occurrences, None


def _agree(light: list[Row], whole: list[Row]) -> bool:
    """Whether the page's events read whole are as their light rows were: the same
    events, versions, owners and roles (`_LIGHT`, `_WHOLE` and the role last)."""
    return len(light) == len(whole) and {(r[0], r[7], r[8], r[-1]) for r in light} == {
        (r[0], r[2], r[1], r[-1]) for r in whole
    }


async def window_rows(
    reader: SnapshotRows, user_id: int, start: datetime, end: datetime, excluded: int | None = None
) -> list[Row]:
    """The light rows (for `merged`) of the caller's events whose bounds touch the window,
    less the event `excluded`."""
    params = {"user_id": user_id, "start": start, "end": end, "excluded": excluded}
    return await reader.rows(_window(False, False, excluded is not None), params)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    """Microseconds since 1970: a time in a cursor, exactly."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _cursor_key(values: list[int]) -> tuple[datetime, int, datetime]:
    start, event_id, original = values
    try:
        return (
            _EPOCH + timedelta(microseconds=start),
            _cursor_id(event_id),
            _EPOCH + timedelta(microseconds=original),
        )
    except OverflowError:  # not a time: no listing gave it out
        raise _foreign_cursor() from None


def _cursor_id(value: int) -> int:
    """An event id from a cursor. The fingerprint binds a cursor to its query but is no
    secret (a client can recompute it), so what follows it is checked like any input:
    an id beyond the integer columns would fail to bind (a 500), and no listing gives
    out one."""
    if not 0 <= value <= MAX_ID:
        raise _foreign_cursor()
    return value


def _foreign_cursor() -> TandemError:
    return validation_error({"cursor": "is not a cursor this listing gave out"})


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
        raise _foreign_cursor()
    return numbers


def _fingerprint(q: EventQuery, kind: str) -> str:
    """What a cursor is bound to: the listing's kind and filters (not its page size)."""
    fields = (kind, q.user_id, q.start, q.end, q.text, q.role)
    return hashlib.blake2b(repr(fields).encode(), digest_size=6).hexdigest()


async def delete_event(
    conn: AsyncConnection, event_id: int, deleted_by: int, now: datetime
) -> None:
    """Delete an event the caller has locked; its sync tombstones, its audit chain (the
    deletion its last record) and that chain's head stay behind."""
    row = (
        await conn.execute(
            sa.select(events.c.version, events.c.audit_hash).where(events.c.id == event_id)
        )
    ).one()
    await sync_log.touch(conn, event_id, now)
    deleted = audit.entry("event_delete", now, deleted_by, event_id=event_id, version=row.version)
    await audit.append_to_event(conn, deleted, previous=row.audit_hash, last=True)
    await conn.execute(events.delete().where(events.c.id == event_id))
