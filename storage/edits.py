"""The edit engine: the one write path for every change to an event.

Create, REST PUT and PATCH, WebSocket patches, rollback and batch create all end
here, so every change is a patch, every patch is a version row, and every rule
(role, idempotency, rebase, validation) is checked in one place, inside the
caller's transaction. Callers describe the change as data (storage.changes); the
engine turns it into a patch against the document as it stands under the lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit
from storage.changes import Change, patch_for
from storage.conflicts import refuse_schedule_conflicts
from storage.document import DOCUMENT_FIELDS, check_document, parse_time
from storage.errors import ErrorCode, TandemError, not_found
from storage.overrides import span
from storage.patching import apply_ops, paths_overlap, touched_paths
from storage.records import EventRecord, VersionRecord, event_record, version_record
from storage.roles import check_role
from storage.tables import audit_records, event_versions, events, permissions

# Built once, not per edit: constructing statements cost the edit more CPU than
# running them (the W1 profile in bench/RESULTS.md). The SET clause of the update
# comes from the parameters' keys at execution.
_UPDATE_EVENT = events.update().where(events.c.id == sa.bindparam("edited_id"))
_INSERT_VERSION = event_versions.insert()


@dataclass(frozen=True)
class EditResult:
    event: EventRecord
    role: str
    # The version this edit created, or (duplicate) the one that first applied
    # its op_id; None for a patch that changed nothing.
    version: VersionRecord | None
    noop: bool = False
    duplicate: bool = False


def event_columns(document: dict[str, Any]) -> dict[str, Any]:
    """Column values for a canonical document, with its occurrence bounds for window
    queries (moved occurrences included, so a window finds them where they now are)."""
    start, end = parse_time(document["start_time"]), parse_time(document["end_time"])
    first_start, last_end = span(document)
    columns = {name: document[name] for name in DOCUMENT_FIELDS}
    columns.update(start_time=start, end_time=end, first_start=first_start, last_end=last_end)
    return columns


def creation_ops(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The patch that builds `document` from an empty one: the ops of version 1."""
    return [{"op": "add", "path": f"/{name}", "value": document[name]} for name in DOCUMENT_FIELDS]


def new_uid() -> str:
    """The iCalendar UID of an event made here (imported ones keep theirs)."""
    return f"{uuid.uuid4()}@tandem"


async def create_event(
    conn: AsyncConnection,
    owner_id: int,
    document: dict[str, Any],
    now: datetime,
    *,
    conflict_horizon: timedelta | None = None,
    uid: str | None = None,
    origin: str = "create",
    author_id: int | None = None,
) -> EventRecord:
    """Insert a validated document as version 1, owned by `owner_id` (with a
    `conflict_horizon`, schedule_conflict when it overlaps another of the owner's
    events; a series without end is compared that far past `now`).

    The author of version 1 is the owner unless someone else made it for them
    (an editor splitting the owner's series); an import keeps the file's UID.
    """
    document = check_document(document, ErrorCode.VALIDATION_ERROR)
    author_id = owner_id if author_id is None else author_id
    if conflict_horizon is not None:
        await refuse_schedule_conflicts(
            conn, owner_id, document, None, horizon=conflict_horizon, now=now
        )
    result = await conn.execute(
        events.insert()
        .values(
            owner_id=owner_id,
            version=1,
            created_at=now,
            updated_at=now,
            updated_by=author_id,
            uid=uid or new_uid(),
            **event_columns(document),
        )
        .returning(*events.c)
    )
    event = event_record(result.one())
    await conn.execute(
        permissions.insert().values(
            event_id=event.id, user_id=owner_id, role="owner", granted_by=owner_id, granted_at=now
        )
    )
    await _insert_version(
        conn,
        VersionRecord(event.id, 1, author_id, origin, None, creation_ops(document), document, now),
    )
    created = audit.entry("event_create", now, author_id, event_id=event.id, version=1)
    await audit.append_to_event(conn, created, previous="")
    return event


async def lock_event(conn: AsyncConnection, event_id: int) -> EventRecord | None:
    """Read the event row, locked until commit (SQLite's write transaction already is)."""
    query = sa.select(events).where(events.c.id == event_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else event_record(row)


async def _lock_for_edit(
    conn: AsyncConnection, event_id: int, user_id: int, op_id: str | None
) -> sa.Row[Any] | None:
    """The event row locked until commit, with the caller's role and whether `op_id` was
    already applied (`applied`): what an edit must know first, in one round trip.
    """
    query = _lock_query(conn.dialect.name == "postgresql", op_id is not None)
    params = {"event_id": event_id, "user_id": user_id, "op_id": op_id}
    return (await conn.execute(query, params)).first()


@cache  # see _UPDATE_EVENT
def _lock_query(for_update: bool, with_op_id: bool) -> sa.Select[Any]:
    user_id: sa.BindParameter[int] = sa.bindparam("user_id")
    role = (
        sa.select(permissions.c.role)
        .where(permissions.c.event_id == events.c.id, permissions.c.user_id == user_id)
        .scalar_subquery()
    )
    applied = (
        sa.exists().where(
            event_versions.c.event_id == events.c.id,
            event_versions.c.author_id == user_id,
            event_versions.c.op_id == sa.bindparam("op_id"),
        )
        if with_op_id
        else sa.false()
    )
    query = sa.select(events, role.label("caller_role"), applied.label("applied")).where(
        events.c.id == sa.bindparam("event_id")
    )
    # SQLite's write transaction already holds the only write lock.
    return query.with_for_update(of=events) if for_update else query


async def apply_edit(
    conn: AsyncConnection,
    *,
    event_id: int,
    user_id: int,
    origin: str,
    change: Change,
    now: datetime,
    base_version: int | None = None,
    op_id: str | None = None,
    if_match: int | None = None,
    conflict_horizon: timedelta | None = None,
) -> EditResult:
    """Apply one change in the caller's (write) transaction; see DESIGN.md, "One edit engine".

    With a `conflict_horizon`, a result that overlaps another of the editor's events is
    refused (schedule_conflict); a series without end is compared that far past `now`.
    """
    # 1-3. Lock the row, read the role and whether op_id was applied: one round trip.
    row = await _lock_for_edit(conn, event_id, user_id, op_id)
    if row is None:
        raise not_found(f"event {event_id}")
    current = event_record(row)
    # Read in the same transaction as the write, so a revoke that committed
    # first wins at once.
    role = check_role(event_id, row.caller_role, "editor")
    if op_id is not None and row.applied:
        # A resent op (rare): its version is read only now.
        applied = await _version_with_op_id(conn, event_id, user_id, op_id)
        assert applied is not None
        return EditResult(current, role, applied, duplicate=True)
    if if_match is not None and if_match != current.version:
        raise TandemError(
            ErrorCode.PRECONDITION_FAILED,
            f"the event is at version {current.version}, not {if_match}",
            {"version": current.version},
        )
    # 4. The patch, rebased over later versions when they touched other paths.
    ops = await patch_for(conn, change, current)
    if base_version is not None and base_version != current.version:
        await _check_rebase(conn, current, base_version, ops)
    # 5. Apply and validate the whole result.
    document = check_document(apply_ops(current.document, ops), ErrorCode.INVALID_EVENT)
    if document == current.document:
        return EditResult(current, role, None, noop=True)
    if conflict_horizon is not None:
        await refuse_schedule_conflicts(
            conn, user_id, document, event_id, horizon=conflict_horizon, now=now
        )
    # 6. Write the event row and the version row; the caller commits, then publishes.
    record = VersionRecord(
        event_id, current.version + 1, user_id, origin, op_id, ops, document, now
    )
    # The event's audit head came with the locked row: the record is chained here, and
    # the record and the new head ride on the version's write.
    updated = audit.entry("event_update", now, user_id, event_id=event_id, version=record.version)
    audit_hash = audit.chain_hash(row.audit_hash, updated)
    audited = audit.record_values(audit.event_chain(event_id), updated, audit_hash)
    edited = await _write_version(conn, current, record, audited)
    # The version row's insert logged the sync change (the trigger of migration 0004).
    return EditResult(edited, role, record)


async def _write_version(
    conn: AsyncConnection, current: EventRecord, record: VersionRecord, audited: dict[str, Any]
) -> EventRecord:
    """Move the event row to `record`'s version and document, log that version, and store
    its audit record `audited` (moving the event's audit head to it)."""
    changed = {
        "version": record.version,
        "updated_at": record.at,
        "updated_by": record.author_id,
        "audit_hash": audited["hash"],
    }
    changed.update(event_columns(record.snapshot))
    if conn.dialect.name == "postgresql":
        # One statement, one round trip: the update and the audit record ride in CTEs
        # of the version insert.
        params = _version_row(record)
        params.update({f"moved_{name}": value for name, value in changed.items()})
        params.update({f"audited_{name}": value for name, value in audited.items()})
        params["moved_id"] = current.id
        await conn.execute(_move_and_log(tuple(changed)), params)
    else:  # SQLite has no data-modifying CTE
        await conn.execute(_UPDATE_EVENT, {"edited_id": current.id, **changed})
        await _insert_version(conn, record)
        await audit.insert(conn, audited)
    # The row now holds exactly this: no need to read it back.
    return current.as_of(record)


@cache  # see _UPDATE_EVENT; every edit sets the same columns, so one statement
def _move_and_log(columns: tuple[str, ...]) -> sa.Insert:
    """PostgreSQL: `WITH moved AS (UPDATE events ...), audited AS (INSERT INTO
    audit_records ...) INSERT INTO event_versions ...`.

    The event's new `columns` are bound as `moved_<column>`, the audit record's as
    `audited_<column>`, the version row's as its own columns (as `_insert_version`
    binds them). PostgreSQL runs every data-modifying CTE, referenced or not.
    """
    moved = (
        events.update()
        .where(events.c.id == sa.bindparam("moved_id"))
        .values(_bound(events, columns, "moved_"))
        .cte("moved")
    )
    audited = audit_records.insert().values(_bound(audit_records, _AUDIT_COLUMNS, "audited_"))
    return event_versions.insert().add_cte(moved).add_cte(audited.cte("audited"))


# Every column of an audit record but seq, which the database assigns.
_AUDIT_COLUMNS = tuple(column.name for column in audit_records.c if column.name != "seq")


def _bound(table: sa.Table, columns: tuple[str, ...], prefix: str) -> dict[str, Any]:
    return {name: sa.bindparam(prefix + name, type_=table.c[name].type) for name in columns}


async def _check_rebase(
    conn: AsyncConnection, current: EventRecord, base_version: int, ops: list[dict[str, Any]]
) -> None:
    """Allow a stale patch only when nothing since its base touched what it touches."""
    if base_version > current.version or base_version < 1:
        raise _conflict(current.version, f"base_version {base_version} does not exist")
    later = await conn.execute(
        sa.select(event_versions.c.ops).where(
            event_versions.c.event_id == current.id, event_versions.c.version > base_version
        )
    )
    mine = touched_paths(ops)
    for (their_ops,) in later:
        theirs = touched_paths(their_ops)
        if any(paths_overlap(a, b) for a in mine for b in theirs):
            raise _conflict(current.version, "a later version changed the same fields")


def _conflict(current_version: int, reason: str) -> TandemError:
    return TandemError(
        ErrorCode.VERSION_CONFLICT,
        f"{reason}; the event is at version {current_version}",
        {"version": current_version},
    )


async def _version_with_op_id(
    conn: AsyncConnection, event_id: int, author_id: int, op_id: str
) -> VersionRecord | None:
    row = (
        await conn.execute(
            sa.select(event_versions).where(
                event_versions.c.event_id == event_id,
                event_versions.c.author_id == author_id,
                event_versions.c.op_id == op_id,
            )
        )
    ).first()
    return None if row is None else version_record(row)


async def _insert_version(conn: AsyncConnection, record: VersionRecord) -> None:
    await conn.execute(_INSERT_VERSION, _version_row(record))


def _version_row(record: VersionRecord) -> dict[str, Any]:
    return {
        "event_id": record.event_id,
        "version": record.version,
        "author_id": record.author_id,
        "origin": record.origin,
        "op_id": record.op_id,
        "ops": record.ops,
        "snapshot": record.snapshot,
        "at": record.at,
    }
