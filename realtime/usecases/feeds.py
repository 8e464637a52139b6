"""Calendar feeds and iCalendar exports: what /calendar.ics, /feeds and /ical/<token>.ics do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from storage import audit, feeds
from storage.database import Database
from storage.feeds import Feed
from storage.ical_export import calendar_bytes
from storage.records import EventRecord
from storage.users import User


class Feeds:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def calendar(self, user: User, role: str | None = None) -> bytes:
        """Every event the user can see (with that role, when given), as one VCALENDAR."""
        async with self._db.read() as conn:
            found = await feeds.calendar_events(conn, user.id, role)
        return await _written(found)

    async def create(self, user: User) -> tuple[Feed, str]:
        """A new feed and its secret token (shown once: only its hash is kept)."""
        now = datetime.now(UTC)
        async with self._db.write() as conn:
            created = await feeds.create_feed(conn, user.id, now)
            await audit.append_to_account(conn, audit.entry("feed_create", now, user.id), user.id)
        return created

    async def list(self, user: User) -> list[Feed]:
        async with self._db.read() as conn:
            return await feeds.list_feeds(conn, user.id)

    async def delete(self, user: User, feed_id: int) -> None:
        now = datetime.now(UTC)
        async with self._db.write() as conn:
            await feeds.delete_feed(conn, user.id, feed_id)
            await audit.append_to_account(conn, audit.entry("feed_delete", now, user.id), user.id)

    async def calendar_of_token(self, token: str) -> bytes:
        """The calendar a feed URL serves; not_found for a token never issued or revoked.

        Looked up in the database on every request (no cache), so a revoked feed
        answers 404 at once on every process.
        """
        async with self._db.write() as conn:
            user_id = await feeds.use_feed(conn, token, datetime.now(UTC))
            found = await feeds.calendar_events(conn, user_id)
        return await _written(found)


async def _written(found: list[EventRecord]) -> bytes:
    """The VCALENDAR of `found`, written off the event loop: icalendar takes about a
    millisecond per event (10 s for 10,000 here), which would stall every socket."""
    return await asyncio.to_thread(calendar_bytes, found)
