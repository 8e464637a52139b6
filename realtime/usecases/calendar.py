"""The use cases that change events: each owns its transaction and notifies after commit.

REST routes and the WebSocket session both call these, so a change behaves the
same whichever way it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from realtime.ops import metrics
from realtime.usecases.importing import ImportResult, import_calendar
from realtime.usecases.notify import Notifier
from realtime.usecases.splitting import Split, split
from storage import edits, permissions
from storage import events as event_store
from storage.changes import (
    ApplyOps,
    CancelOccurrence,
    Change,
    RestoreVersion,
    SetFields,
    SetOccurrence,
)
from storage.database import AsyncConnection, Database
from storage.document import build_document
from storage.edit_sql import AsyncpgEditSql, edit_transaction
from storage.edits import EditResult
from storage.errors import ErrorCode, TandemError, validation_error
from storage.last_writes import LastWrite, LastWrites
from storage.permissions import Permission
from storage.records import EventRecord
from storage.users import User, find_user_by_username, get_user

MAX_BATCH = 500


@dataclass(frozen=True)
class Grant:
    user_id: int | None
    username: str | None
    role: str


def _now() -> datetime:
    return datetime.now(UTC)


class Calendar:
    def __init__(self, database: Database, notifier: Notifier, conflict_horizon: timedelta) -> None:
        self._db = database
        self._notify = notifier
        # How far ahead a series without end is checked for conflicts.
        self._horizon = conflict_horizon
        # PostgreSQL: what the next live edit of an event can assume (storage.last_writes).
        self._last_writes = None if database.is_sqlite else LastWrites()

    def _check(self, reject_conflicts: bool) -> timedelta | None:
        """The edit engine's conflict check: the horizon, or None for no check."""
        return self._horizon if reject_conflicts else None

    async def create(
        self, user: User, fields: dict[str, Any], *, reject_conflicts: bool = False
    ) -> EventRecord:
        document = build_document(fields)
        async with self._db.write() as conn:
            event = await edits.create_event(
                conn, user.id, document, _now(), conflict_horizon=self._check(reject_conflicts)
            )
        metrics.EDITS_COMMITTED.labels("create").inc()
        return event

    async def create_batch(self, user: User, items: object) -> list[EventRecord]:
        """All or nothing: every document is validated before anything is written."""
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            raise validation_error({"events": f"must be a list of 1-{MAX_BATCH} event documents"})
        documents, errors = [], {}
        for index, fields in enumerate(items):
            try:
                documents.append(
                    build_document(fields if isinstance(fields, dict) else {"": fields})
                )
            except TandemError as exc:
                errors[str(index)] = exc.details
        if errors:
            raise TandemError(
                ErrorCode.VALIDATION_ERROR,
                f"{len(errors)} event(s) are invalid",
                {"errors": errors},
            )
        now = _now()
        async with self._db.write() as conn:
            created = [await edits.create_event(conn, user.id, doc, now) for doc in documents]
        metrics.EDITS_COMMITTED.labels("create").inc(len(created))
        return created

    async def update(
        self,
        user: User,
        event_id: int,
        fields: dict[str, Any],
        *,
        if_match: frozenset[int] | None = None,
        reject_conflicts: bool = False,
    ) -> EditResult:
        """PUT: the changed fields become one patch computed against the current document.

        Overrides that the change orphans (their occurrence is gone) are dropped too,
        unless the body sets `overrides` itself; the stored ops show the removals.
        """
        return await self._edit(
            user,
            event_id,
            "rest",
            SetFields(fields),
            if_match=if_match,
            reject_conflicts=reject_conflicts,
        )

    async def patch(
        self,
        user: User,
        event_id: int,
        ops: object,
        *,
        origin: str = "rest",
        base_version: int | None = None,
        op_id: str | None = None,
        if_match: frozenset[int] | None = None,
    ) -> EditResult:
        """An RFC 6902 patch from a client (REST PATCH or WebSocket)."""
        return await self._edit(
            user,
            event_id,
            origin,
            ApplyOps(ops),
            base_version=base_version,
            op_id=op_id,
            if_match=if_match,
        )

    async def set_occurrence(
        self,
        user: User,
        event_id: int,
        occurrence_id: str,
        fields: dict[str, Any],
        *,
        if_match: frozenset[int] | None = None,
    ) -> EditResult:
        """PUT /events/{id}/occurrences/{occurrence_id}: that occurrence's override."""

        change = SetOccurrence(occurrence_id, fields)
        return await self._edit(user, event_id, "rest", change, if_match=if_match)

    async def cancel_occurrence(
        self,
        user: User,
        event_id: int,
        occurrence_id: str,
        *,
        if_match: frozenset[int] | None = None,
    ) -> EditResult:
        """DELETE /events/{id}/occurrences/{occurrence_id}: an EXDATE, the override dropped."""

        change = CancelOccurrence(occurrence_id)
        return await self._edit(user, event_id, "rest", change, if_match=if_match)

    async def split(
        self,
        user: User,
        event_id: int,
        body: dict[str, Any],
        *,
        if_match: frozenset[int] | None = None,
    ) -> Split:
        """POST /events/{id}/split: this occurrence and the following ones become a new series."""
        return await split(self._db, self._notify, user, event_id, body, if_match=if_match)

    async def import_calendar(self, user: User, data: bytes) -> ImportResult:
        """POST /events/import: an iCalendar file, all or nothing."""
        return await import_calendar(self._db, self._notify, user, data)

    async def rollback(self, user: User, event_id: int, version: int) -> EditResult:
        """A new version whose document equals an old one's."""
        return await self._edit(user, event_id, "rollback", RestoreVersion(version))

    async def delete(self, user: User, event_id: int) -> None:
        async with self._db.write() as conn:
            await edits.lock_event(conn, event_id)
            await permissions.require_role(conn, event_id, user.id, "owner")
            members = await permissions.members_of(conn, event_id)
            await event_store.delete_event(conn, event_id, user.id, _now())
        await self._notify.access_removed(event_id, members, "deleted")

    async def share(self, user: User, event_id: int, grants: list[Grant]) -> list[Permission]:
        """Give each grant's user its role; everyone with access afterwards."""
        now = _now()
        changed: list[tuple[int, str]] = []
        async with self._db.write() as conn:
            # Locked first, like every writer of the event: its audit chain's head is
            # in the row, and a concurrent delete must win or lose as a whole.
            await edits.lock_event(conn, event_id)
            await permissions.require_role(conn, event_id, user.id, "owner")
            for grant in grants:
                target = await _resolve_user(conn, grant)
                if target.id == user.id:
                    raise validation_error({"users": "the owner cannot share an event with itself"})
                previous = await permissions.grant(
                    conn, event_id, target.id, grant.role, user.id, now
                )
                if previous != grant.role:
                    changed.append((target.id, grant.role))
            found = await permissions.list_permissions(conn, event_id)
        for user_id, role in changed:
            await self._notify.role_changed(event_id, user_id, role)
        return found

    async def set_role(
        self, user: User, event_id: int, target_id: int, role: str
    ) -> list[Permission]:
        """Change a user's role (to owner: transfer ownership); everyone with access afterwards."""
        now = _now()
        async with self._db.write() as conn:
            await edits.lock_event(conn, event_id)
            await permissions.require_role(conn, event_id, user.id, "owner")
            target = await get_user(conn, target_id)
            if target is None:
                raise TandemError(ErrorCode.NOT_FOUND, f"user {target_id} not found")
            changed: list[tuple[int, str]] = []
            if target_id == user.id:
                # Making the owner owner changes nothing; any other role would
                # leave the event without one.
                if role != "owner":
                    raise TandemError(
                        ErrorCode.FORBIDDEN, "the owner changes its role by transferring ownership"
                    )
            elif role == "owner":
                await permissions.transfer_ownership(conn, event_id, user.id, target_id, now)
                changed = [(target_id, "owner"), (user.id, "editor")]
            else:
                previous = await permissions.grant(conn, event_id, target_id, role, user.id, now)
                changed = [] if previous == role else [(target_id, role)]
            found = await permissions.list_permissions(conn, event_id)
        for user_id, new_role in changed:
            await self._notify.role_changed(event_id, user_id, new_role)
        return found

    async def revoke(self, user: User, event_id: int, target_id: int) -> None:
        async with self._db.write() as conn:
            await edits.lock_event(conn, event_id)
            role = await permissions.require_role(conn, event_id, user.id, "viewer")
            if target_id != user.id and role != "owner":
                raise TandemError(ErrorCode.FORBIDDEN, "only the owner can remove someone else")
            await permissions.revoke(conn, event_id, target_id, user.id, _now())
        await self._notify.access_removed(event_id, [target_id], "revoked")

    async def _edit(
        self,
        user: User,
        event_id: int,
        origin: str,
        change: Change,
        *,
        base_version: int | None = None,
        op_id: str | None = None,
        if_match: frozenset[int] | None = None,
        reject_conflicts: bool = False,
    ) -> EditResult:
        reads = isinstance(change, RestoreVersion) or reject_conflicts
        # What both ways to write the edit take alike.
        request: dict[str, Any] = {
            "change": change,
            "origin": origin,
            "now": _now(),
            "base_version": base_version,
            "op_id": op_id,
            "if_match": if_match,
        }
        result = None if reads else await self._swap(user, event_id, request)
        if result is None:
            async with edit_transaction(self._db, reads=reads) as sql:
                result = await edits.apply_edit(
                    sql,
                    event_id=event_id,
                    user_id=user.id,
                    conflict_horizon=self._check(reject_conflicts),
                    **request,
                )
        if self._last_writes is not None and result.audit_head is not None:
            written = LastWrite(result.event, result.audit_head, user.id, result.role)
            self._last_writes.remember(written)
        # Published only after the commit above: nothing is sent for a refused
        # or rolled-back edit.
        if result.version is not None and not result.duplicate:
            metrics.EDITS_COMMITTED.labels(origin).inc()
            await self._notify.version_committed(event_id, result.version)
        return result

    async def _swap(self, user: User, event_id: int, request: dict[str, Any]) -> EditResult | None:
        """The edit in one statement, when this process wrote the event's last version
        for the same editor and nothing changed since (storage.edits.swap_edit); None
        otherwise, and the caller takes the locking path."""
        memory = self._last_writes
        last = None if memory is None else memory.get(event_id, user.id)
        if memory is None or last is None:
            return None
        async with self._db.edit_connection() as raw:
            result = await edits.swap_edit(AsyncpgEditSql(raw), last, **request)
        if result is None:
            memory.forget(event_id)  # stale: the locking path reads it anew
        return result


async def _resolve_user(conn: AsyncConnection, grant: Grant) -> User:
    if grant.user_id is not None:
        found = await get_user(conn, grant.user_id)
    else:
        assert grant.username is not None
        found = await find_user_by_username(conn, grant.username)
    if found is None:
        raise TandemError(ErrorCode.NOT_FOUND, f"user {grant.user_id or grant.username} not found")
    return found
