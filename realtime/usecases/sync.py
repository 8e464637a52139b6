"""GET /sync: the first listing of a client's copy, then what changed since its cursor.

How a cursor cannot skip a change is in storage/sync_log.py. Here: the phases,
the page limits, the retention, and keeping an unchanged page byte-identical
(its weak ETag then answers 304).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from realtime.usecases.sync_cursor import CursorCodec, SyncCursor, expired
from realtime.wire import event_json
from storage import sync_log
from storage.database import Database

log = logging.getLogger(__name__)

# A change may be logged with the time its transaction began and commit later:
# rows are pruned this long after the retention (or one retention, if shorter),
# so that a cursor still within it cannot have lost one.
PRUNE_SLACK = timedelta(hours=1)
# How often one process prunes the log (or once per retention, if shorter).
PRUNE_EVERY = timedelta(minutes=10)
# A cursor that read nothing new comes back unchanged (so the page, and its ETag,
# stay the same) until it is this old (or half the retention, if shorter); then it is
# renewed, so that a client that polls an idle calendar more often than the retention
# never sees its cursor expire.
RENEW_AFTER = timedelta(days=1)
# Floors are rounded down to an hour (or a hundredth of a shorter retention): an
# earlier floor is still a true one, and the first page of an unchanged calendar
# stays the same page, with the same ETag, for that long.
FLOOR_STEP = timedelta(hours=1)


@dataclass(frozen=True)
class SyncPage:
    items: list[dict[str, Any]]
    next_cursor: str
    has_more: bool


class Sync:
    def __init__(self, database: Database, secret_key: str, retention: timedelta) -> None:
        self._db = database
        self._codec = CursorCodec(secret_key)
        self._retention = retention
        self._floor_step = max(1, int(min(FLOOR_STEP, retention / 100).total_seconds()))
        self._renew_after = min(RENEW_AFTER, retention / 2)
        self._next_prune = 0.0

    async def page(self, user_id: int, cursor_text: str | None, limit: int) -> SyncPage:
        now = datetime.now(UTC)
        await self._prune_now_and_then(now)
        if cursor_text is None:
            return await self._listing(user_id, None, limit, now)
        cursor = self._codec.decode(cursor_text, user_id)
        if datetime.fromtimestamp(cursor.floor, UTC) < now - self._retention:
            raise expired()
        if cursor.listing:
            return await self._listing(user_id, cursor, limit, now)
        return await self._changes(cursor, cursor_text, limit, now)

    async def _listing(
        self, user_id: int, cursor: SyncCursor | None, limit: int, now: datetime
    ) -> SyncPage:
        async with self._db.read() as conn:
            if cursor is None:
                # The position is noted before the first page is read: whatever
                # commits from here on is read again as a change.
                await sync_log.hold_writers(conn, user_id)
                position = await sync_log.last_position(conn, user_id)
                cursor = SyncCursor(user_id, True, 0, position, self._floor(now))
            found = await sync_log.list_visible(conn, user_id, cursor.after_event_id, limit + 1)
            listing = len(found) > limit
            # The last listing page is not the end when changes were logged since the
            # listing began: the client must read them before it holds the present.
            has_more = listing or await sync_log.changed_since(conn, user_id, cursor.position)
        found = found[:limit]
        items = [{"type": "event", "event": event_json(event, role)} for event, role in found]
        after = found[-1][0].id if listing else 0
        following = SyncCursor(user_id, listing, after, cursor.position, cursor.floor)
        return SyncPage(items, self._codec.encode(following), has_more)

    async def _changes(
        self, cursor: SyncCursor, cursor_text: str, limit: int, now: datetime
    ) -> SyncPage:
        async with self._db.read() as conn:
            await sync_log.hold_writers(conn, cursor.user_id)
            event_ids, position, has_more = await sync_log.read_changes(
                conn, cursor.user_id, cursor.position, limit
            )
            changes = await sync_log.resolve(conn, cursor.user_id, event_ids)
        if not changes and now - datetime.fromtimestamp(cursor.floor, UTC) < self._renew_after:
            return SyncPage([], cursor_text, False)
        items: list[dict[str, Any]] = []
        for change in changes:
            if change.event is not None:
                assert change.role is not None
                items.append({"type": "event", "event": event_json(change.event, change.role)})
            else:
                reason = "deleted" if change.deleted else "revoked"
                items.append({"type": "removed", "event_id": change.event_id, "reason": reason})
        # Caught up: nothing logged before now is unread. Otherwise the floor stays.
        floor = cursor.floor if has_more else self._floor(now)
        following = SyncCursor(cursor.user_id, False, 0, position, floor)
        return SyncPage(items, self._codec.encode(following), has_more)

    def _floor(self, now: datetime) -> int:
        seconds = int(now.timestamp())
        return seconds - seconds % self._floor_step

    async def _prune_now_and_then(self, now: datetime) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + min(PRUNE_EVERY, self._retention).total_seconds()
        async with self._db.write() as conn:
            pruned = await sync_log.prune(
                conn, now - self._retention - min(PRUNE_SLACK, self._retention)
            )
        if pruned:
            log.info("pruned %d sync changes older than the retention", pruned)
