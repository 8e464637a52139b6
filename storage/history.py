"""The version log of an event: listing, snapshots, diffs and the changelog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.changelog import summarize
from storage.errors import not_found
from storage.patch_diff import diff_documents, make_ops
from storage.records import VersionRecord, version_record
from storage.tables import event_versions, users


@dataclass(frozen=True)
class AuthoredVersion:
    record: VersionRecord
    author_name: str


@dataclass(frozen=True)
class ChangelogEntry:
    version: AuthoredVersion
    summary: str
    changes: list[dict[str, Any]]


def _authored() -> sa.Select[Any]:
    return sa.select(event_versions, users.c.username).join(
        users, users.c.id == event_versions.c.author_id
    )


async def list_versions(
    conn: AsyncConnection,
    event_id: int,
    *,
    limit: int,
    newest_first: bool = True,
    after: int | None = None,
) -> tuple[list[AuthoredVersion], int | None]:
    """One page of versions and the version to continue from (None at the end).

    `after` is the last version of the previous page: pages continue below it
    when newest first, above it otherwise.
    """
    query = _authored().where(event_versions.c.event_id == event_id)
    order = event_versions.c.version.desc() if newest_first else event_versions.c.version.asc()
    if after is not None:
        query = query.where(
            event_versions.c.version < after if newest_first else event_versions.c.version > after
        )
    rows = (await conn.execute(query.order_by(order).limit(limit + 1))).all()
    page = [AuthoredVersion(version_record(r), r.username) for r in rows[:limit]]
    more = len(rows) > limit
    return page, (page[-1].record.version if more else None)


async def get_version(conn: AsyncConnection, event_id: int, version: int) -> AuthoredVersion:
    row = (
        await conn.execute(
            _authored().where(
                event_versions.c.event_id == event_id, event_versions.c.version == version
            )
        )
    ).first()
    if row is None:
        raise not_found(f"version {version} of event {event_id}")
    return AuthoredVersion(version_record(row), row.username)


async def diff_versions(
    conn: AsyncConnection, event_id: int, from_version: int, to_version: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The field changes and the RFC 6902 patch that turn one version into another."""
    old = (await get_version(conn, event_id, from_version)).record.snapshot
    new = (await get_version(conn, event_id, to_version)).record.snapshot
    return diff_documents(old, new), make_ops(old, new)


async def changelog(
    conn: AsyncConnection,
    event_id: int,
    *,
    limit: int,
    newest_first: bool,
    after: int | None,
) -> tuple[list[ChangelogEntry], int | None]:
    """One page of versions, each with its changes against the version before it."""
    page, cursor = await list_versions(
        conn, event_id, limit=limit, newest_first=newest_first, after=after
    )
    if not page:
        return [], None
    numbers = {v.record.version for v in page}
    wanted = numbers | {n - 1 for n in numbers if n > 1}
    rows = await conn.execute(
        sa.select(event_versions.c.version, event_versions.c.snapshot).where(
            event_versions.c.event_id == event_id, event_versions.c.version.in_(wanted)
        )
    )
    snapshots = {r.version: r.snapshot for r in rows}
    entries = []
    for authored in page:
        record = authored.record
        # Version 1 is described as every field added to an empty document.
        before = snapshots.get(record.version - 1, {})
        changes = diff_documents(before, record.snapshot)
        summary = summarize(
            authored.author_name, record.origin, changes, record.snapshot["timezone"]
        )
        entries.append(ChangelogEntry(authored, summary, changes))
    return entries, cursor


async def versions_between(
    conn: AsyncConnection, event_id: int, after: int, upto: int | None = None
) -> list[VersionRecord]:
    """Versions in (after, upto], oldest first; with no `upto`, every later one."""
    query = sa.select(event_versions).where(
        event_versions.c.event_id == event_id, event_versions.c.version > after
    )
    if upto is not None:
        query = query.where(event_versions.c.version <= upto)
    rows = await conn.execute(query.order_by(event_versions.c.version))
    return [version_record(r) for r in rows]
