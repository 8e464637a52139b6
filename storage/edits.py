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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit
from storage.changes import Change, patch_for
from storage.conflicts import refuse_schedule_conflicts
from storage.document import DOCUMENT_FIELDS, check_document, parse_time
from storage.edit_sql import CoreEditSql, EditSql
from storage.errors import ErrorCode, TandemError, not_found
from storage.last_writes import LastWrite
from storage.overrides import span
from storage.patching import apply_ops, paths_overlap, touched_paths
from storage.records import EventRecord, VersionRecord, event_record
from storage.roles import check_role
from storage.tables import event_versions, events, permissions


@dataclass(frozen=True)
class EditResult:
    event: EventRecord
    role: str
    # The version this edit created, or (duplicate) the one that first applied
    # its op_id; None for a patch that changed nothing.
    version: VersionRecord | None
    noop: bool = False
    duplicate: bool = False
    # The event's audit chain head after a written edit, for the next edit's
    # optimistic write (`swap_edit`).
    audit_head: str | None = None


@dataclass(frozen=True)
class _NextVersion:
    """What an edit writes: the version row, the event row's changed columns and the
    audit record chained after the event's head."""

    record: VersionRecord
    changed: dict[str, Any]
    audited: dict[str, Any]
    audit_head: str


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


async def apply_edit(
    target: AsyncConnection | EditSql,
    *,
    event_id: int,
    user_id: int,
    origin: str,
    change: Change,
    now: datetime,
    base_version: int | None = None,
    op_id: str | None = None,
    if_match: frozenset[int] | None = None,
    conflict_horizon: timedelta | None = None,
) -> EditResult:
    """Apply one change in the caller's (write) transaction; see DESIGN.md, "One edit engine".

    `target` is the transaction's SQLAlchemy connection, or the statements for it
    (storage.edit_sql; on PostgreSQL's hot path, a bare asyncpg connection's, which
    takes neither a RestoreVersion nor a conflict check). With a `conflict_horizon`, a
    result that overlaps another of the editor's events is refused (schedule_conflict);
    a series without end is compared that far past `now`.
    """
    sql = CoreEditSql(target) if isinstance(target, AsyncConnection) else target
    # 1-3. Lock the row, read the role and whether op_id was applied: one round trip.
    row = await sql.lock(event_id, user_id, op_id)
    if row is None:
        raise not_found(f"event {event_id}")
    current = event_record(row)
    # Read in the same transaction as the write, so a revoke that committed
    # first wins at once.
    role = check_role(event_id, row["caller_role"], "editor")
    if op_id is not None and row["applied"]:
        # A resent op (rare): its version is read only now.
        applied = await sql.version_with_op_id(event_id, user_id, op_id)
        assert applied is not None
        return EditResult(current, role, applied, duplicate=True)
    if if_match is not None and current.version not in if_match:
        raise TandemError(
            ErrorCode.PRECONDITION_FAILED,
            f"the event is at version {current.version}, not one of those asked for",
            {"version": current.version},
        )
    # 4. The patch, rebased over later versions when they touched other paths.
    ops = await patch_for(sql.conn, change, current)
    if base_version is not None and base_version != current.version:
        await _check_rebase(sql, current, base_version, ops)
    # 5. Apply and validate the whole result.
    document = check_document(apply_ops(current.document, ops), ErrorCode.INVALID_EVENT)
    if document == current.document:
        return EditResult(current, role, None, noop=True)
    if conflict_horizon is not None:
        assert sql.conn is not None, "a conflict check reads through SQLAlchemy"
        await refuse_schedule_conflicts(
            sql.conn, user_id, document, event_id, horizon=conflict_horizon, now=now
        )
    # 6. Write the event row, the version row and the audit record; the caller commits,
    # then publishes. The event's audit head came with the locked row.
    written = _next_version(current, row["audit_hash"], user_id, origin, op_id, ops, document, now)
    await sql.write(event_id, written.changed, _version_row(written.record), written.audited)
    # The version row's insert logged the sync change (the trigger of migration 0004).
    # The row now holds exactly this: no need to read it back.
    return EditResult(
        current.as_of(written.record), role, written.record, audit_head=written.audit_head
    )


async def swap_edit(
    sql: EditSql,
    last: LastWrite,
    *,
    change: Change,
    origin: str,
    now: datetime,
    base_version: int | None = None,
    op_id: str | None = None,
    if_match: frozenset[int] | None = None,
) -> EditResult | None:
    """The edit as `apply_edit` would make it, computed against `last` without reading
    the row and written in one statement that holds only if the row, the audit head
    and the editor's role are still as `last` left them and `op_id` was not applied.

    None when it did not hold, or when the change needs what only the locking path
    answers (a rebase, a refusal, a no-op): the caller then runs `apply_edit`, which
    is the authority. On PostgreSQL this spares an edit three of its four round trips
    (BEGIN, the locking read, COMMIT), outside any transaction: the statement is one.
    """
    current = last.event
    if base_version not in (None, current.version) or (
        if_match is not None and current.version not in if_match
    ):
        return None
    try:
        role = check_role(current.id, last.role, "editor")
        ops = await patch_for(None, change, current)
        document = check_document(apply_ops(current.document, ops), ErrorCode.INVALID_EVENT)
    except TandemError:
        return None  # refused against what may be stale: let the locking path say so
    if document == current.document:
        return None
    written = _next_version(
        current, last.audit_head, last.user_id, origin, op_id, ops, document, now
    )
    expected = {
        "expected_version": current.version,
        "expected_audit_head": last.audit_head,
        "expected_user_id": last.user_id,
        "expected_role": last.role,
    }
    if not await sql.swap(
        current.id, written.changed, _version_row(written.record), written.audited, expected
    ):
        return None
    return EditResult(
        current.as_of(written.record), role, written.record, audit_head=written.audit_head
    )


def _next_version(
    current: EventRecord,
    audit_head: str,
    user_id: int,
    origin: str,
    op_id: str | None,
    ops: list[dict[str, Any]],
    document: dict[str, Any],
    now: datetime,
) -> _NextVersion:
    record = VersionRecord(
        current.id, current.version + 1, user_id, origin, op_id, ops, document, now
    )
    updated = audit.entry("event_update", now, user_id, event_id=current.id, version=record.version)
    head = audit.chain_hash(audit_head, updated)
    changed = {
        "version": record.version,
        "updated_at": record.at,
        "updated_by": record.author_id,
        "audit_hash": head,
    }
    changed.update(event_columns(record.snapshot))
    audited = audit.record_values(audit.event_chain(current.id), updated, head)
    return _NextVersion(record, changed, audited, head)


async def _check_rebase(
    sql: EditSql, current: EventRecord, base_version: int, ops: list[dict[str, Any]]
) -> None:
    """Allow a stale patch only when nothing since its base touched what it touches."""
    if base_version > current.version or base_version < 1:
        raise _conflict(current.version, f"base_version {base_version} does not exist")
    mine = touched_paths(ops)
    for their_ops in await sql.ops_after(current.id, base_version):
        theirs = touched_paths(their_ops)
        if any(paths_overlap(a, b) for a in mine for b in theirs):
            raise _conflict(current.version, "a later version changed the same fields")


def _conflict(current_version: int, reason: str) -> TandemError:
    return TandemError(
        ErrorCode.VERSION_CONFLICT,
        f"{reason}; the event is at version {current_version}",
        {"version": current_version},
    )


async def _insert_version(conn: AsyncConnection, record: VersionRecord) -> None:
    await conn.execute(event_versions.insert(), _version_row(record))


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
