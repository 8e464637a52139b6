"""Who may see and edit an event: grants, role changes, revocation, ownership transfer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit, sync_log
from storage.errors import ErrorCode, TandemError, not_found, validation_error
from storage.roles import ROLE_RANK, check_role
from storage.tables import events, permissions, users


@dataclass(frozen=True)
class Permission:
    user_id: int
    username: str
    role: str
    granted_by: int
    granted_at: datetime


async def role_of(conn: AsyncConnection, event_id: int, user_id: int) -> str | None:
    query = sa.select(permissions.c.role).where(
        permissions.c.event_id == event_id, permissions.c.user_id == user_id
    )
    return (await conn.execute(query)).scalar()


async def require_role(conn: AsyncConnection, event_id: int, user_id: int, least: str) -> str:
    """The caller's role, at least `least` (see roles.check_role)."""
    return check_role(event_id, await role_of(conn, event_id, user_id), least)


async def list_permissions(conn: AsyncConnection, event_id: int) -> list[Permission]:
    """Everyone with access, the owner first, then by role and name."""
    rows = await conn.execute(
        sa.select(permissions, users.c.username)
        .join(users, users.c.id == permissions.c.user_id)
        .where(permissions.c.event_id == event_id)
    )
    found = [Permission(r.user_id, r.username, r.role, r.granted_by, r.granted_at) for r in rows]
    found.sort(key=lambda p: (-ROLE_RANK[p.role], p.username.lower()))
    return found


async def grant(
    conn: AsyncConnection, event_id: int, user_id: int, role: str, granted_by: int, now: datetime
) -> str | None:
    """Give `user_id` a role on the event (insert or change); the previous role, if any.

    The owner's own row is never changed here: ownership moves only by transfer.
    """
    previous = await _set_role(conn, event_id, user_id, role, granted_by, now)
    if previous != role:
        action = "share" if previous is None else "role_change"
        await audit.append_to_event(
            conn, audit.entry(action, now, granted_by, event_id=event_id, target_user_id=user_id)
        )
        await sync_log.touch(conn, event_id, now, [user_id])
    return previous


async def _set_role(
    conn: AsyncConnection, event_id: int, user_id: int, role: str, granted_by: int, now: datetime
) -> str | None:
    previous = await role_of(conn, event_id, user_id)
    if previous == "owner":
        raise TandemError(
            ErrorCode.FORBIDDEN, "the owner's role changes only by transferring ownership"
        )
    values = {"role": role, "granted_by": granted_by, "granted_at": now}
    if previous is None:
        await conn.execute(
            permissions.insert().values(event_id=event_id, user_id=user_id, **values)
        )
    elif previous != role:
        await conn.execute(
            permissions.update()
            .where(permissions.c.event_id == event_id, permissions.c.user_id == user_id)
            .values(**values)
        )
    return previous


async def transfer_ownership(
    conn: AsyncConnection, event_id: int, old_owner: int, new_owner: int, now: datetime
) -> None:
    """Make `new_owner` the owner; the old owner stays on as an editor.

    A UID is unique per owner (re-imports find their events by it), so an event
    whose UID the new owner already uses (both imported from one file) cannot move.
    """
    mine = events.alias("mine")
    clash = sa.select(mine.c.id).where(
        mine.c.owner_id == new_owner,
        mine.c.uid == sa.select(events.c.uid).where(events.c.id == event_id).scalar_subquery(),
    )
    if (await conn.execute(clash)).first() is not None:
        raise validation_error(
            {"role": "the new owner already owns an event with this event's uid"}
        )
    await _set_role(conn, event_id, new_owner, "editor", old_owner, now)
    await conn.execute(
        permissions.update()
        .where(permissions.c.event_id == event_id, permissions.c.user_id == new_owner)
        .values(role="owner", granted_by=old_owner, granted_at=now)
    )
    await conn.execute(
        permissions.update()
        .where(permissions.c.event_id == event_id, permissions.c.user_id == old_owner)
        .values(role="editor", granted_by=new_owner, granted_at=now)
    )
    await conn.execute(events.update().where(events.c.id == event_id).values(owner_id=new_owner))
    transfer = audit.entry(
        "ownership_transfer", now, old_owner, event_id=event_id, target_user_id=new_owner
    )
    await audit.append_to_event(conn, transfer)
    # Every member sees a new owner_id.
    await sync_log.touch(conn, event_id, now)


async def revoke(
    conn: AsyncConnection, event_id: int, user_id: int, revoked_by: int, now: datetime
) -> str:
    """Remove a user's access; the role they had. The owner cannot be removed."""
    role = await role_of(conn, event_id, user_id)
    if role is None:
        raise not_found(f"user {user_id} has no access to event {event_id}")
    if role == "owner":
        raise TandemError(
            ErrorCode.FORBIDDEN, "the owner cannot be removed; transfer ownership first"
        )
    await conn.execute(
        permissions.delete().where(
            permissions.c.event_id == event_id, permissions.c.user_id == user_id
        )
    )
    await audit.append_to_event(
        conn, audit.entry("revoke", now, revoked_by, event_id=event_id, target_user_id=user_id)
    )
    await sync_log.touch(conn, event_id, now, [user_id])
    return role


async def members_of(conn: AsyncConnection, event_id: int) -> list[int]:
    """The ids of everyone with access (to notify them of a deletion)."""
    rows = await conn.execute(
        sa.select(permissions.c.user_id).where(permissions.c.event_id == event_id)
    )
    return [r.user_id for r in rows]


async def roles_of(conn: AsyncConnection, event_id: int, user_ids: set[int]) -> dict[int, str]:
    """The role of each of `user_ids` that has one on the event."""
    rows = await conn.execute(
        sa.select(permissions.c.user_id, permissions.c.role).where(
            permissions.c.event_id == event_id, permissions.c.user_id.in_(user_ids)
        )
    )
    return {r.user_id: r.role for r in rows}
