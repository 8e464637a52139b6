"""POST /events/{id}/split: "this and following" in one transaction.

The old series gets its end (one edit through the engine, so its joined clients get
the patch); the new series is created for the same owner and shared with the same
people and roles, and each of them is told with `access`, as a share would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from realtime.ops import metrics
from realtime.usecases.notify import Notifier
from storage import audit, edits, permissions
from storage.changes import ReplaceDocument
from storage.database import Database
from storage.edits import EditResult
from storage.errors import not_found, validation_error
from storage.records import EventRecord
from storage.split import split_series
from storage.users import User


@dataclass(frozen=True)
class Split:
    before: EditResult
    after: EventRecord


async def split(
    database: Database,
    notifier: Notifier,
    user: User,
    event_id: int,
    body: dict[str, Any],
    *,
    if_match: frozenset[int] | None = None,
) -> Split:
    occurrence_id, changes = body.get("occurrence_id"), body.get("changes", {})
    problems: dict[str, str] = {}
    if not isinstance(occurrence_id, str):
        problems["occurrence_id"] = "must be an occurrence id (a string)"
    if not isinstance(changes, dict):
        problems["changes"] = "must be an object of document fields"
    unknown = set(body) - {"occurrence_id", "changes"}
    problems.update({name: "unknown field" for name in unknown})
    if problems:
        raise validation_error(problems)
    assert isinstance(occurrence_id, str) and isinstance(changes, dict)
    now = datetime.now(UTC)
    async with database.write() as conn:
        # The role first, so that a stranger learns nothing about the occurrences.
        await permissions.require_role(conn, event_id, user.id, "editor")
        current = await edits.lock_event(conn, event_id)
        if current is None:
            raise not_found(f"event {event_id}")
        old, new = split_series(current.document, occurrence_id, changes)
        before = await edits.apply_edit(
            conn,
            event_id=event_id,
            user_id=user.id,
            origin="rest",
            change=ReplaceDocument(old),
            now=now,
            if_match=if_match,
        )
        after = await edits.create_event(conn, before.event.owner_id, new, now, author_id=user.id)
        # The split itself, on the old series' chain; the new series' own chain starts
        # with its event_create.
        split_record = audit.entry(
            "event_split", now, user.id, event_id=event_id, target_user_id=None
        )
        await audit.append_to_event(conn, split_record)
        shared = [
            p for p in await permissions.list_permissions(conn, event_id) if p.role != "owner"
        ]
        for permission in shared:
            await permissions.grant(
                conn, after.id, permission.user_id, permission.role, user.id, now
            )
    if before.version is not None:
        metrics.EDITS_COMMITTED.labels("rest").inc()
        await notifier.version_committed(event_id, before.version)
    metrics.EDITS_COMMITTED.labels("create").inc()
    await notifier.role_changed(after.id, after.owner_id, "owner")
    for permission in shared:
        await notifier.role_changed(after.id, permission.user_id, permission.role)
    return Split(before, after)
