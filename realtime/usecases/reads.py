"""The use cases that read: events, windows, history and who has access.

Each checks the caller's access and reads in one transaction, so what it answers
is one consistent state: a revoke or a delete that commits in between cannot let a
read pass the check and then see what the caller may no longer see. The window's
reads (listings, conflicts) see one snapshot (storage.snapshot.read_window).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage import events as event_store
from storage import history
from storage.conflicts import ConflictPair, conflicting_pairs
from storage.database import Database
from storage.events import EventQuery, Occurrence
from storage.history import AuthoredVersion, ChangelogEntry
from storage.permissions import Permission, list_permissions, require_role
from storage.records import EventRecord
from storage.snapshot import read_window
from storage.users import User


class CalendarReads:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def event(
        self, user: User, event_id: int, as_of: datetime | None = None
    ) -> tuple[EventRecord, str]:
        """The event and the caller's role; with `as_of`, the version current at that time."""
        if as_of is None:
            return await event_store.read_visible_event(self._db, event_id, user.id)
        async with self._db.read() as conn:
            return await event_store.event_as_of(conn, event_id, user.id, as_of)

    async def events(self, query: EventQuery) -> tuple[list[tuple[EventRecord, str]], str | None]:
        """One page of the caller's events, with the caller's role on each."""
        return await read_window(self._db, lambda reader: event_store.list_events(reader, query))

    async def occurrences(self, query: EventQuery) -> tuple[list[Occurrence], str | None]:
        """One page of the occurrences in the query's window (start and end both given)."""
        return await read_window(
            self._db, lambda reader: event_store.list_occurrences(reader, query)
        )

    async def conflicts(self, user: User, start: datetime, end: datetime) -> list[ConflictPair]:
        """Every overlapping pair of occurrences in the caller's calendar within the window,
        as the contract writes them."""
        return await read_window(
            self._db, lambda reader: conflicting_pairs(reader, user.id, start, end)
        )

    async def history(
        self, user: User, event_id: int, *, limit: int, after: int | None
    ) -> tuple[list[AuthoredVersion], int | None]:
        """One page of the event's versions, newest first, and where the next one starts."""
        async with self._db.read() as conn:
            await require_role(conn, event_id, user.id, "viewer")
            return await history.list_versions(conn, event_id, limit=limit, after=after)

    async def version(self, user: User, event_id: int, version: int) -> AuthoredVersion:
        async with self._db.read() as conn:
            await require_role(conn, event_id, user.id, "viewer")
            return await history.get_version(conn, event_id, version)

    async def diff(
        self, user: User, event_id: int, from_version: int, to_version: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The field changes and the RFC 6902 patch from one version to another."""
        async with self._db.read() as conn:
            await require_role(conn, event_id, user.id, "viewer")
            return await history.diff_versions(conn, event_id, from_version, to_version)

    async def changelog(
        self, user: User, event_id: int, *, limit: int, newest_first: bool, after: int | None
    ) -> tuple[list[ChangelogEntry], int | None]:
        async with self._db.read() as conn:
            await require_role(conn, event_id, user.id, "viewer")
            return await history.changelog(
                conn, event_id, limit=limit, newest_first=newest_first, after=after
            )

    async def permissions(self, user: User, event_id: int) -> list[Permission]:
        """Everyone with access to the event, the owner first."""
        async with self._db.read() as conn:
            await require_role(conn, event_id, user.id, "viewer")
            return await list_permissions(conn, event_id)
