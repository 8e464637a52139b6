"""Users: accounts with case-insensitive unique usernames and emails."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.errors import ErrorCode, TandemError
from storage.tables import users


@dataclass(frozen=True)
class User:
    """A user as every request and socket knows it: never with its password hash, which
    only a login reads (`find_credentials`)."""

    id: int
    username: str
    email: str
    created_at: datetime


def _user(row: sa.Row) -> User:
    return User(row.id, row.username, row.email, row.created_at)


async def create_user(
    conn: AsyncConnection, username: str, email: str, password_hash: str, now: datetime
) -> User:
    """Insert a user; username_taken or email_taken when either is used in any letter case."""
    username_key, email_key = username.lower(), email.lower()
    taken = await conn.execute(
        sa.select(users.c.username_key, users.c.email_key).where(
            sa.or_(users.c.username_key == username_key, users.c.email_key == email_key)
        )
    )
    for row in taken:
        if row.username_key == username_key:
            raise TandemError(ErrorCode.USERNAME_TAKEN, "that username is taken")
        raise TandemError(ErrorCode.EMAIL_TAKEN, "that email is already registered")
    try:
        result = await conn.execute(
            users.insert()
            .values(
                username=username,
                username_key=username_key,
                email=email,
                email_key=email_key,
                password_hash=password_hash,
                created_at=now,
            )
            .returning(*users.c)
        )
    except IntegrityError:
        # Lost a race with a concurrent registration of the same name.
        raise TandemError(ErrorCode.USERNAME_TAKEN, "that username or email is taken") from None
    return _user(result.one())


async def find_credentials(conn: AsyncConnection, login: str) -> tuple[User, str] | None:
    """The user whose username or email is `login`, in any letter case, and the user's
    password hash."""
    key = login.lower()
    result = await conn.execute(
        sa.select(users).where(sa.or_(users.c.username_key == key, users.c.email_key == key))
    )
    row = result.first()
    return None if row is None else (_user(row), row.password_hash)


async def get_user(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).first()
    return None if row is None else _user(row)


async def find_user_by_username(conn: AsyncConnection, username: str) -> User | None:
    result = await conn.execute(sa.select(users).where(users.c.username_key == username.lower()))
    row = result.first()
    return None if row is None else _user(row)


async def get_users(conn: AsyncConnection, user_ids: Iterable[int]) -> dict[int, User]:
    ids = set(user_ids)
    if not ids:
        return {}
    result = await conn.execute(sa.select(users).where(users.c.id.in_(ids)))
    return {row.id: _user(row) for row in result}


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute(
        users.update().where(users.c.id == user_id).values(password_hash=password_hash)
    )
