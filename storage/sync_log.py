"""The per-user change log behind GET /sync: written with every change, read by position.

Every change that alters what a user sees of an event (its document or owner,
the user's role, its access, its existence) takes a position in its own
transaction, from one counter. A new version (a create, any edit) takes one for the
event itself, in `events.sync_position`, set by a trigger on the event row (migration
0008: the hottest path pays no extra round trip, and one value however many members
the event has). Shares, role changes, transfers, revocations and deletions log a row
per user concerned in sync_changes, through `touch`. A user's changes after a
position are the sync_changes rows for the user plus the events the user can see whose
position is past it. Each says only "event X may look different to user U"; the
reader answers each with the event as it is at read time (or `removed`), so they need
no order among themselves within a page, and a row of a deleted event or of a revoked
user is the tombstone.

Why a cursor (a position in this log) never skips a change
-----------------------------------------------------------
A reader keeps the highest position it has read. It would skip a change if a
row with a lower position became visible after a row with a higher one, which
a plain sequence allows on PostgreSQL: transaction A takes position 7, B takes
8, B commits, a reader sees 8 and keeps it, then A commits 7 behind it.

- PostgreSQL: every writer (`touch` and the trigger alike) takes, for each user
  whose changes it logs (the trigger: every member of the event), a shared
  transaction-level advisory lock on that user before it draws the position;
  the reader takes the same lock exclusively before it reads the log. The
  exclusive lock is granted only when every writer that might hold an unread
  position for that user has committed or rolled back, and until the reader's
  transaction ends no new writer can take a position for that user.
  Positions handed out later are larger than every one handed out before, so
  when the reader's next statement reads the log, every position below the
  highest it sees is already committed. Writers share the lock, so they never
  wait for one another, only (briefly) for a reader of a user they touch.
- SQLite: one writer at a time (BEGIN IMMEDIATE), so positions commit in order,
  and a read transaction sees a snapshot that holds every earlier commit.

The same lock makes the start of a first listing exact: the reader notes the
highest position first and lists the events after, so whatever commits during
the listing has a larger position and is read as a change afterwards (at worst
an event is sent twice, which an upsert absorbs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.records import EventRecord, event_record
from storage.tables import events, permissions, sync_changes

# The first key of the two-key advisory locks, so they cannot collide with
# another application's locks on the same database (ASCII "sync"; the trigger of
# migration 0004 spells it 1937337955).
_LOCK_SPACE = 0x73796E63


@dataclass(frozen=True)
class Change:
    """What the log says about one event, resolved as the event is now."""

    event_id: int
    # None when the user cannot see it (any more): then `deleted` says why.
    event: EventRecord | None
    role: str | None
    deleted: bool


async def touch(
    conn: AsyncConnection, event_id: int, now: datetime, user_ids: list[int] | None = None
) -> None:
    """Log a change of `event_id` for `user_ids` (default: everyone with access now)."""
    if user_ids is not None and not user_ids:
        return
    postgres = conn.dialect.name == "postgresql"
    params = {"event_id": event_id, "at": now, "space": _LOCK_SPACE}
    if user_ids is None:
        statement = _TOUCH_MEMBERS_PG if postgres else _TOUCH_MEMBERS
    else:
        statement = _TOUCH_USERS_PG if postgres else _TOUCH_USERS
        params["user_ids"] = user_ids
    await conn.execute(statement, params)


# The lock comes in the same statement, row by row before each insert (and so
# before the position the insert draws): see the module docstring.
_TOUCH_MEMBERS_PG = sa.text(
    "WITH members AS (SELECT user_id, pg_advisory_xact_lock_shared(:space, user_id) "
    "FROM permissions WHERE event_id = :event_id) "
    "INSERT INTO sync_changes (user_id, event_id, at) SELECT user_id, :event_id, :at FROM members"
)
_TOUCH_MEMBERS = sa.text(
    "INSERT INTO sync_changes (user_id, event_id, at) "
    "SELECT user_id, :event_id, :at FROM permissions WHERE event_id = :event_id"
)
_TOUCH_USERS_PG = sa.text(
    "WITH targets AS (SELECT u AS user_id, pg_advisory_xact_lock_shared(:space, u) "
    "FROM unnest(CAST(:user_ids AS integer[])) AS u) "
    "INSERT INTO sync_changes (user_id, event_id, at) SELECT user_id, :event_id, :at FROM targets"
)
_TOUCH_USERS = sa.text(
    "INSERT INTO sync_changes (user_id, event_id, at) "
    "SELECT value, :event_id, :at FROM json_each(:user_ids)"
).bindparams(sa.bindparam("user_ids", type_=sa.JSON))


async def hold_writers(conn: AsyncConnection, user_id: int) -> None:
    """Wait for the user's writers in flight and keep new ones out until this transaction
    ends: the reader's side of the lock (see the module docstring). Nothing on SQLite."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(:space, :user_id)"),
            {"space": _LOCK_SPACE, "user_id": user_id},
        )


async def last_position(conn: AsyncConnection, user_id: int) -> int:
    """The highest position of a change for the user (0 for none)."""
    changes = _changes(user_id, 0).subquery()
    query = sa.select(sa.func.coalesce(sa.func.max(changes.c.position), 0))
    return int((await conn.execute(query)).scalar_one())


async def changed_since(conn: AsyncConnection, user_id: int, position: int) -> bool:
    """Whether anything changed for the user after `position`."""
    changes = _changes(user_id, position).subquery()
    query = sa.select(changes.c.position).limit(1)
    return (await conn.execute(query)).first() is not None


async def list_visible(
    conn: AsyncConnection, user_id: int, after_event_id: int, limit: int
) -> list[tuple[EventRecord, str]]:
    """Up to `limit` events the user can see, in id order after `after_event_id`."""
    rows = await conn.execute(
        sa.select(events, permissions.c.role)
        .join(permissions, permissions.c.event_id == events.c.id)
        .where(permissions.c.user_id == user_id, events.c.id > after_event_id)
        .order_by(events.c.id)
        .limit(limit)
    )
    return [(event_record(row), row.role) for row in rows]


async def read_changes(
    conn: AsyncConnection, user_id: int, after_position: int, limit: int
) -> tuple[list[int], int, bool]:
    """The events changed for the user after `after_position`, from at most `limit`
    positions: (event ids, each once, in the order of their last change; the position
    read up to; whether more follow)."""
    changes = _changes(user_id, after_position).order_by("position").limit(limit + 1)
    rows = (await conn.execute(changes)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return [], after_position, False
    last_change = {row.event_id: row.position for row in rows}
    ordered = sorted(last_change, key=last_change.__getitem__)
    return ordered, rows[-1].position, more


def _changes(user_id: int, after_position: int) -> sa.CompoundSelect:
    """(position, event_id) of every change for the user after `after_position`: the
    rows logged for the user, and the versions of the events the user can see."""
    logged = sa.select(sync_changes.c.position, sync_changes.c.event_id).where(
        sync_changes.c.user_id == user_id, sync_changes.c.position > after_position
    )
    edited = (
        sa.select(events.c.sync_position.label("position"), events.c.id.label("event_id"))
        .join(permissions, permissions.c.event_id == events.c.id)
        .where(permissions.c.user_id == user_id, events.c.sync_position > after_position)
    )
    return sa.union_all(logged, edited)


async def resolve(conn: AsyncConnection, user_id: int, event_ids: list[int]) -> list[Change]:
    """Each event as the user sees it now, or why the user does not see it."""
    if not event_ids:
        return []
    role = (
        sa.select(permissions.c.role)
        .where(permissions.c.event_id == events.c.id, permissions.c.user_id == user_id)
        .scalar_subquery()
    )
    rows = await conn.execute(
        sa.select(events, role.label("caller_role")).where(events.c.id.in_(event_ids))
    )
    found: dict[int, Any] = {row.id: row for row in rows}
    changes = []
    for event_id in event_ids:
        row = found.get(event_id)
        if row is None:
            changes.append(Change(event_id, None, None, deleted=True))
        elif row.caller_role is None:
            changes.append(Change(event_id, None, None, deleted=False))
        else:
            changes.append(Change(event_id, event_record(row), row.caller_role, deleted=False))
    return changes


async def prune(conn: AsyncConnection, older_than: datetime) -> int:
    """Forget changes logged before `older_than`; how many rows went."""
    result = await conn.execute(sync_changes.delete().where(sync_changes.c.at < older_than))
    return result.rowcount or 0
