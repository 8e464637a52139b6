"""Login sessions: one refresh-token family each, revocable as a whole."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.point_reads import read_row
from storage.tables import sessions, users
from storage.users import User

# Bound parameters per IN list: both databases cap them (SQLite at 32,766).
_IDS_PER_QUERY = 1000


@dataclass(frozen=True)
class LoginSession:
    id: str
    user_id: int
    refresh_jti: str
    expires_at: datetime
    revoked_at: datetime | None


async def create_session(
    conn: AsyncConnection,
    session_id: str,
    user_id: int,
    refresh_jti: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        sessions.insert().values(
            id=session_id,
            user_id=user_id,
            refresh_jti=refresh_jti,
            created_at=now,
            refreshed_at=now,
            expires_at=expires_at,
        )
    )


async def get_session(conn: AsyncConnection, session_id: str) -> LoginSession | None:
    row = (await conn.execute(sa.select(sessions).where(sessions.c.id == session_id))).first()
    if row is None:
        return None
    return LoginSession(row.id, row.user_id, row.refresh_jti, row.expires_at, row.revoked_at)


async def rotate_refresh(
    conn: AsyncConnection,
    session_id: str,
    presented_jti: str,
    new_jti: str,
    now: datetime,
    expires_at: datetime,
) -> bool:
    """Swap the session's current refresh token; False when `presented_jti` is not current.

    The compare-and-set in one UPDATE means two concurrent refreshes with the same
    token cannot both win.
    """
    result = await conn.execute(
        sessions.update()
        .where(
            sessions.c.id == session_id,
            sessions.c.refresh_jti == presented_jti,
            sessions.c.revoked_at.is_(None),
        )
        .values(refresh_jti=new_jti, refreshed_at=now, expires_at=expires_at)
    )
    return result.rowcount == 1


async def revoke_session(
    conn: AsyncConnection, session_id: str, reason: str, now: datetime
) -> None:
    await conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


async def revoked_among(conn: AsyncConnection, session_ids: set[str]) -> set[str]:
    """Which of `session_ids` are revoked (or gone)."""
    ids = sorted(session_ids)
    live: set[str] = set()
    for start in range(0, len(ids), _IDS_PER_QUERY):
        rows = await conn.execute(
            sa.select(sessions.c.id).where(
                sessions.c.id.in_(ids[start : start + _IDS_PER_QUERY]),
                sessions.c.revoked_at.is_(None),
            )
        )
        live.update(r.id for r in rows)
    return session_ids - live


async def get_session_with_user(
    conn: AsyncConnection, session_id: str
) -> tuple[LoginSession, User] | None:
    """The session and its user in one round trip, in the caller's transaction."""
    row = (await conn.execute(_session_with_user(), {"id": session_id})).first()
    return _session_and_user(session_id, None if row is None else row._mapping)


async def read_session_with_user(
    database: Database, session_id: str
) -> tuple[LoginSession, User] | None:
    """`get_session_with_user` on its own, sent the cheapest way (storage/point_reads.py):
    this runs on every authenticated request and socket."""
    row = await read_row(database, _session_with_user(), {"id": session_id})
    return _session_and_user(session_id, row)


def _session_and_user(
    session_id: str, row: Mapping[str, Any] | None
) -> tuple[LoginSession, User] | None:
    if row is None:
        return None
    session = LoginSession(
        session_id, row["id"], row["refresh_jti"], row["expires_at"], row["revoked_at"]
    )
    return session, User(row["id"], row["username"], row["email"], row["created_at"])


@cache
def _session_with_user() -> sa.Select[Any]:
    """Built once: building it on each call was a third of the call or more."""
    return (
        sa.select(
            sessions.c.refresh_jti,
            sessions.c.expires_at,
            sessions.c.revoked_at,
            users.c.id,
            users.c.username,
            users.c.email,
            users.c.created_at,
        )
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.id == sa.bindparam("id"))
    )
