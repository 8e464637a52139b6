"""Calendar feeds (secret subscription URLs) and the reads an iCalendar export makes."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.errors import not_found
from storage.records import EventRecord, event_record
from storage.tables import events, feeds, permissions

# 32 random bytes, URL-safe base64 without padding: 43 characters of its alphabet.
TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Feed:
    id: int
    user_id: int
    created_at: datetime
    last_used_at: datetime | None


def _hash(token: str) -> str:
    # The token is 256 random bits, so a plain hash suffices (no salt or stretching).
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _feed(row: Any) -> Feed:
    return Feed(row.id, row.user_id, row.created_at, row.last_used_at)


async def create_feed(conn: AsyncConnection, user_id: int, now: datetime) -> tuple[Feed, str]:
    """A new feed and its token: the token exists only in this answer, never stored."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = (
        await conn.execute(
            feeds.insert()
            .values(user_id=user_id, token_hash=_hash(token), created_at=now)
            .returning(*feeds.c)
        )
    ).one()
    return _feed(row), token


async def list_feeds(conn: AsyncConnection, user_id: int) -> list[Feed]:
    rows = await conn.execute(
        sa.select(feeds).where(feeds.c.user_id == user_id).order_by(feeds.c.id)
    )
    return [_feed(row) for row in rows]


async def delete_feed(conn: AsyncConnection, user_id: int, feed_id: int) -> None:
    """Remove one of the user's feeds; not_found for another user's or an unknown one."""
    result = await conn.execute(
        feeds.delete().where(feeds.c.id == feed_id, feeds.c.user_id == user_id)
    )
    if result.rowcount == 0:
        raise not_found(f"feed {feed_id}")


async def use_feed(conn: AsyncConnection, token: str, now: datetime) -> int:
    """The user whose feed this token opens, noting its use; not_found for any other token.

    Read from the database on every request, with no cache: a deleted feed stops
    working at once, on every process.
    """
    # Anything else was never issued (and, not being ASCII, might not even hash).
    if not _TOKEN_SHAPE.fullmatch(token):
        raise not_found("feed")
    result = await conn.execute(
        feeds.update()
        .where(feeds.c.token_hash == _hash(token))
        .values(last_used_at=now)
        .returning(feeds.c.user_id)
    )
    user_id = result.scalar()
    if user_id is None:
        raise not_found("feed")
    return int(user_id)


async def calendar_events(
    conn: AsyncConnection, user_id: int, role: str | None = None
) -> list[EventRecord]:
    """Every event the user can see (with that role only, when given), by id."""
    query = (
        sa.select(events)
        .join(
            permissions,
            sa.and_(permissions.c.event_id == events.c.id, permissions.c.user_id == user_id),
        )
        .order_by(events.c.id)
    )
    if role is not None:
        query = query.where(permissions.c.role == role)
    return [event_record(row) for row in await conn.execute(query)]


async def owned_event_id_by_uid(conn: AsyncConnection, owner_id: int, uid: str) -> int | None:
    query = sa.select(events.c.id).where(events.c.owner_id == owner_id, events.c.uid == uid)
    return (await conn.execute(query)).scalar()
