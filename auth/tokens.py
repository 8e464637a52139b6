"""JWT access and refresh tokens (HS256, algorithm pinned, audience and issuer checked)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import jwt

from storage.errors import ErrorCode, TandemError

ALGORITHM = "HS256"
ISSUER = "tandem"
AUDIENCE = "tandem"

TokenType = Literal["access", "refresh"]

# Tokens whose signature and claims were verified, by their text. A client sends the
# same access token with every request and socket until it expires, and PyJWT's checks
# cost a tenth of a millisecond or more each time (its base64 check goes character by
# character). Only successes are kept; expiry and type are checked on every use, and
# revocation is the login session's, which is read every time.
VERIFIED_TOKENS = 4096


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    session_id: str
    jti: str
    token_type: TokenType
    issued_at: datetime
    expires_at: datetime


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(18)}"


class TokenCodec:
    def __init__(self, secret: str, access_ttl: int, refresh_ttl: int) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("the signing key must be at least 32 bytes")
        self._secret = secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._verified = lru_cache(maxsize=VERIFIED_TOKENS)(self._verify)

    def issue(self, token_type: TokenType, user_id: int, session_id: str, jti: str) -> TokenClaims:
        now = datetime.now(UTC).replace(microsecond=0)
        ttl = self.access_ttl if token_type == "access" else self.refresh_ttl
        return TokenClaims(user_id, session_id, jti, token_type, now, now + timedelta(seconds=ttl))

    def encode(self, claims: TokenClaims) -> str:
        payload = {
            "sub": str(claims.user_id),
            "sid": claims.session_id,
            "jti": claims.jti,
            "typ": claims.token_type,
            "iat": int(claims.issued_at.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        """Verified claims, or TandemError unauthenticated / token_expired."""
        payload = self._verified(token)
        # PyJWT's own rule, for a token verified while it was still valid.
        if payload["exp"] <= time.time():
            raise _expired()
        if payload.get("typ") != expected:
            raise TandemError(ErrorCode.UNAUTHENTICATED, f"an {expected} token is required")
        try:
            return TokenClaims(
                user_id=int(payload["sub"]),
                session_id=str(payload["sid"]),
                jti=str(payload["jti"]),
                token_type=expected,
                issued_at=datetime.fromtimestamp(payload["iat"], UTC),
                expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            )
        except (TypeError, ValueError):
            raise TandemError(ErrorCode.UNAUTHENTICATED, "the token is not valid") from None

    def _verify(self, token: str) -> dict[str, Any]:
        """The payload of a token signed with this key, for this audience and issuer,
        with every claim Tandem reads; kept by `_verified`, so never changed."""
        try:
            return jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "sid", "jti", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise _expired() from None
        except jwt.PyJWTError:
            raise TandemError(ErrorCode.UNAUTHENTICATED, "the token is not valid") from None


def _expired() -> TandemError:
    return TandemError(ErrorCode.TOKEN_EXPIRED, "the token has expired")
