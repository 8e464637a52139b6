"""POST /events/import: an iCalendar file into the caller's events, all or nothing.

Each UID the caller already owns is updated as one new version (or left unchanged);
any other becomes a new event. Versions carry origin `import`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from realtime.ops import metrics
from realtime.usecases.notify import Notifier
from storage import edits
from storage.changes import ImportDocument
from storage.database import Database
from storage.feeds import owned_event_id_by_uid
from storage.ical_import import parse_calendar
from storage.records import VersionRecord
from storage.users import User


@dataclass
class ImportResult:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)


async def import_calendar(
    database: Database, notifier: Notifier, user: User, data: bytes
) -> ImportResult:
    # Parsed and validated whole before the transaction: a refused file writes nothing.
    series = parse_calendar(data)
    now = datetime.now(UTC)
    result = ImportResult()
    committed: list[tuple[int, VersionRecord]] = []
    async with database.write() as conn:
        for item in series:
            existing = await owned_event_id_by_uid(conn, user.id, item.uid)
            if existing is None:
                created = await edits.create_event(
                    conn, user.id, item.document, now, uid=item.uid, origin="import"
                )
                result.created.append(created.id)
                continue
            edit = await edits.apply_edit(
                conn,
                event_id=existing,
                user_id=user.id,
                origin="import",
                # iCalendar has no metadata: the event and its overrides keep theirs.
                change=ImportDocument(item.document),
                now=now,
            )
            if edit.version is None:
                result.unchanged.append(existing)
            else:
                result.updated.append(existing)
                committed.append((existing, edit.version))
    metrics.EDITS_COMMITTED.labels("import").inc(len(result.created) + len(committed))
    for event_id, version in committed:
        await notifier.version_committed(event_id, version)
    return result
