"""Register, log in, refresh, log out, and authenticate a bearer token."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from auth.passwords import Passwords
from auth.rules import registration_problems
from auth.tokens import TokenClaims, TokenCodec, new_id
from storage import audit
from storage import sessions as session_store
from storage import users as user_store
from storage.database import AsyncConnection, Database
from storage.errors import ErrorCode, TandemError, validation_error
from storage.users import User

log = logging.getLogger(__name__)

# Called after a login session was revoked (logout or refresh-token reuse), so the
# server can close that session's sockets on every process.
SessionRevoked = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the user and the login session its token belongs to."""

    user: User
    session_id: str
    token_expires_at: datetime


@dataclass(frozen=True)
class TokenGrant:
    user: User
    access_token: str
    refresh_token: str
    expires_in: int


class AuthService:
    def __init__(
        self,
        database: Database,
        codec: TokenCodec,
        passwords: Passwords,
        on_session_revoked: SessionRevoked,
    ) -> None:
        self._db = database
        self._codec = codec
        self._passwords = passwords
        self._on_session_revoked = on_session_revoked

    async def register(self, username: object, email: object, password: object) -> TokenGrant:
        problems = registration_problems(username, email, password)
        if problems:
            raise validation_error(problems)
        assert isinstance(username, str) and isinstance(email, str) and isinstance(password, str)
        password_hash = await self._passwords.hash(password)
        async with self._db.write() as conn:
            user = await user_store.create_user(conn, username, email, password_hash, _now())
            await _record(conn, "register", user.id)
            return await self._open_session(conn, user)

    async def login(self, login: object, password: object) -> TokenGrant:
        problems = {
            name: problem
            for name, value in (("username", login), ("password", password))
            if (problem := _text_problem(value)) is not None
        }
        if problems:
            raise validation_error(problems)
        assert isinstance(login, str) and isinstance(password, str)
        async with self._db.read() as conn:
            found = await user_store.find_credentials(conn, login)
        user, password_hash = found if found else (None, None)
        # A missing user is checked against a decoy hash: the answer and its
        # timing are the same as for a wrong password.
        ok = await self._passwords.verify(password_hash, password)
        if not ok or user is None or password_hash is None:
            async with self._db.write() as conn:
                await _record(conn, "login_failed", user.id if user else None)
            raise TandemError(ErrorCode.INVALID_CREDENTIALS, "wrong username or password")
        async with self._db.write() as conn:
            await _record(conn, "login", user.id)
            if self._passwords.needs_rehash(password_hash):
                new_hash = await self._passwords.hash(password)
                await user_store.set_password_hash(conn, user.id, new_hash)
            return await self._open_session(conn, user)

    async def refresh(self, refresh_token: object) -> TokenGrant:
        if (problem := _text_problem(refresh_token)) is not None:
            raise validation_error({"refresh_token": problem})
        assert isinstance(refresh_token, str)
        claims = self._codec.decode(refresh_token, "refresh")
        async with self._db.write() as conn:
            found = await session_store.get_session_with_user(conn, claims.session_id)
            if found is None or found[1].id != claims.user_id:
                raise TandemError(ErrorCode.UNAUTHENTICATED, "the token is not valid")
            session, user = found
            if session.revoked_at is not None:
                raise TandemError(ErrorCode.TOKEN_REVOKED, "this login session has been revoked")
            access = self._codec.issue("access", user.id, session.id, new_id("a"))
            refresh = self._codec.issue("refresh", user.id, session.id, new_id("r"))
            rotated = await session_store.rotate_refresh(
                conn, session.id, claims.jti, refresh.jti, access.issued_at, refresh.expires_at
            )
            if not rotated:
                # An already-used refresh token: someone holds a copy. Revoke the
                # whole family so that neither the thief nor the owner goes on.
                await session_store.revoke_session(conn, session.id, "reuse", _now())
                await _record(conn, "refresh_reuse", user.id)
        if not rotated:
            log.warning("refresh token reuse: login session %s revoked", session.id)
            await self._on_session_revoked(session.id)
            raise TandemError(ErrorCode.TOKEN_REVOKED, "this refresh token was already used")
        return self._grant(user, access, refresh)

    async def logout(self, principal: Principal, refresh_token: object = None) -> None:
        """Revoke the caller's login session: its access and refresh tokens stop at once.

        A refresh token sent along is revoked too when it is the same user's (a
        client may hold one from another login); an unusable one is ignored, so
        that logging out never fails for the caller.
        """
        revoked = {principal.session_id}
        if isinstance(refresh_token, str) and refresh_token:
            try:
                claims = self._codec.decode(refresh_token, "refresh")
            except TandemError:
                claims = None
            if claims is not None and claims.user_id == principal.user.id:
                revoked.add(claims.session_id)
        async with self._db.write() as conn:
            for session_id in revoked:
                await session_store.revoke_session(conn, session_id, "logout", _now())
            await _record(conn, "logout", principal.user.id)
        for session_id in revoked:
            await self._on_session_revoked(session_id)

    async def authenticate(self, access_token: str) -> Principal:
        """The caller behind a bearer token, or unauthenticated/token_expired/token_revoked."""
        claims = self._codec.decode(access_token, "access")
        found = await session_store.read_session_with_user(self._db, claims.session_id)
        if found is None or found[1].id != claims.user_id:
            raise TandemError(ErrorCode.UNAUTHENTICATED, "the token is not valid")
        session, user = found
        if session.revoked_at is not None:
            raise TandemError(ErrorCode.TOKEN_REVOKED, "this login session has been revoked")
        return Principal(user, session.id, claims.expires_at)

    async def _open_session(self, conn: AsyncConnection, user: User) -> TokenGrant:
        session_id = new_id("s")
        access = self._codec.issue("access", user.id, session_id, new_id("a"))
        refresh = self._codec.issue("refresh", user.id, session_id, new_id("r"))
        await session_store.create_session(
            conn,
            session_id,
            user.id,
            refresh.jti,
            access.issued_at,
            refresh.expires_at,
        )
        return self._grant(user, access, refresh)

    def _grant(self, user: User, access: TokenClaims, refresh: TokenClaims) -> TokenGrant:
        return TokenGrant(
            user,
            self._codec.encode(access),
            self._codec.encode(refresh),
            self._codec.access_ttl,
        )


def _text_problem(value: object) -> str | None:
    """Why a required text field of a sign-in body is unusable, or None."""
    if value is None or value == "":
        return "is required"
    return None if isinstance(value, str) else "must be a string"


def _now() -> datetime:
    return datetime.now(UTC)


async def _record(conn: AsyncConnection, action: str, user_id: int | None) -> None:
    """An account's audit record; `user_id` None for a failed login on an unknown name."""
    await audit.append_to_account(conn, audit.entry(action, _now(), user_id), user_id)
