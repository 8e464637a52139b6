"""Reading the audit trail: an event's records, a user's, every record for export, and
the check that every chain still hashes to what was written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.audit import Entry, chain_hash, event_chain
from storage.errors import ErrorCode, TandemError, not_found
from storage.permissions import role_of
from storage.tables import audit_heads, audit_records, events, users


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    chain: str
    entry: Entry
    actor_username: str | None
    hash: str


@dataclass(frozen=True)
class Mismatch:
    """The first place where the stored trail disagrees with its hashes."""

    seq: int | None
    chain: str
    reason: str


_WITH_ACTOR = sa.select(audit_records, users.c.username.label("actor_username")).outerjoin(
    users, users.c.id == audit_records.c.actor_id
)


def _record(row: sa.Row[Any]) -> AuditRecord:
    item = Entry(
        action=row.action,
        at=row.at,
        actor_id=row.actor_id,
        event_id=row.event_id,
        target_user_id=row.target_user_id,
        version=row.version,
        ip=row.ip,
        request_id=row.request_id,
    )
    return AuditRecord(row.seq, row.chain, item, row.actor_username, row.hash)


async def _page(
    conn: AsyncConnection, where: sa.ColumnElement[bool], after: int, limit: int
) -> tuple[list[AuditRecord], int | None]:
    rows = (
        await conn.execute(
            _WITH_ACTOR.where(where, audit_records.c.seq > after)
            .order_by(audit_records.c.seq)
            .limit(limit + 1)
        )
    ).all()
    found = [_record(row) for row in rows[:limit]]
    return found, found[-1].seq if len(rows) > limit else None


async def require_audit_access(conn: AsyncConnection, event_id: int, user_id: int) -> None:
    """The owner may read an event's trail, and after deletion the owner who deleted it.

    not_found for anyone else who cannot see the event (existence is not leaked);
    forbidden for someone who can see it without owning it.
    """
    role = await role_of(conn, event_id, user_id)
    if role == "owner":
        return
    if role is not None:
        raise TandemError(ErrorCode.FORBIDDEN, "only the owner can read an event's audit trail")
    exists = sa.select(events.c.id).where(events.c.id == event_id)
    if (await conn.execute(exists)).first() is None:
        deleted_by = sa.select(audit_records.c.actor_id).where(
            audit_records.c.chain == event_chain(event_id),
            audit_records.c.action == "event_delete",
        )
        if (await conn.execute(deleted_by)).scalar() == user_id:
            return
    raise not_found(f"event {event_id}")


async def event_trail(
    conn: AsyncConnection, event_id: int, after: int, limit: int
) -> tuple[list[AuditRecord], int | None]:
    """One page of the event's records, oldest first; the cursor of the next page."""
    return await _page(conn, audit_records.c.chain == event_chain(event_id), after, limit)


async def user_trail(
    conn: AsyncConnection, user_id: int, after: int, limit: int
) -> tuple[list[AuditRecord], int | None]:
    """The user's account records and the records of the user's own actions."""
    mine = sa.or_(audit_records.c.chain == f"user:{user_id}", audit_records.c.actor_id == user_id)
    return await _page(conn, mine, after, limit)


async def every_record(
    conn: AsyncConnection, since: datetime | None = None
) -> AsyncIterator[AuditRecord]:
    """Every record in seq order (streamed), from `since` on when given."""
    query = _WITH_ACTOR.order_by(audit_records.c.seq)
    if since is not None:
        query = query.where(audit_records.c.at >= since)
    result = await conn.stream(query.execution_options(yield_per=1000))
    async for row in result:
        yield _record(row)


async def verify(conn: AsyncConnection) -> Mismatch | None:
    """Recompute every chain in seq order; the first record that does not match, if any.

    A record altered or removed from the middle breaks the hash of the next one in
    its chain; a record removed from the end no longer matches the chain's head (a
    live event's row, or audit_heads for accounts and deleted events).

    `conn` must read one snapshot (`Database.read_snapshot`): the records and the heads
    are two statements, and a head written after the records were read names a record
    this did not see.
    """
    last: dict[str, str] = {}
    async for record in every_record(conn):
        expected = chain_hash(last.get(record.chain, ""), record.entry)
        if record.hash != expected:
            return Mismatch(record.seq, record.chain, "its hash does not match its content")
        last[record.chain] = record.hash
    heads = sa.union_all(
        sa.select(audit_heads.c.chain, audit_heads.c.hash),
        sa.select(sa.literal("event:") + sa.cast(events.c.id, sa.String), events.c.audit_hash),
    )
    for chain, head in await conn.execute(sa.select(heads.subquery())):
        if last.get(chain, "") != head:
            return Mismatch(None, chain, "its newest record is missing")
    return None
