"""The one error type of Tandem: a stable machine code, a message and details.

It lives in the lowest package so that storage, auth and realtime all raise the
same thing; realtime maps the code once to an HTTP status and once to a WebSocket
error message.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every machine code a client can receive: PROTOCOL.md's table and the server's own two."""

    MALFORMED_REQUEST = "malformed_request"
    UNAUTHENTICATED = "unauthenticated"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"
    INVALID_CREDENTIALS = "invalid_credentials"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    USERNAME_TAKEN = "username_taken"
    EMAIL_TAKEN = "email_taken"
    SCHEDULE_CONFLICT = "schedule_conflict"
    VERSION_CONFLICT = "version_conflict"
    CURSOR_EXPIRED = "cursor_expired"
    PRECONDITION_FAILED = "precondition_failed"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VALIDATION_ERROR = "validation_error"
    INVALID_PATCH = "invalid_patch"
    INVALID_EVENT = "invalid_event"
    TEST_FAILED = "test_failed"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    # WebSocket only: a frame that is not a valid client message.
    INVALID_MESSAGE = "invalid_message"
    # Not in the contract's table; the README documents them.
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL_ERROR = "internal_error"


class TandemError(Exception):
    """An expected failure with a stable code from the contract's error table."""

    def __init__(
        self, code: ErrorCode, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        # ErrorCode(...) refuses a code outside the table at the raise, not at the answer.
        self.code = ErrorCode(code)
        self.message = message
        self.details = details or {}

    def __repr__(self) -> str:
        return f"TandemError({self.code.value!r}, {self.message!r})"


def validation_error(fields: dict[str, str], message: str = "invalid input") -> TandemError:
    """A 422 naming every bad field."""
    return TandemError(ErrorCode.VALIDATION_ERROR, message, {"fields": fields})


def not_found(what: str) -> TandemError:
    return TandemError(ErrorCode.NOT_FOUND, f"{what} not found")


# SQLSTATE prefixes that say PostgreSQL cannot do any work right now, whatever the
# statement: connection exceptions (08), operator intervention (57P01 admin shutdown
# and 57P03 "cannot connect now" during a restart, 57P02 crash), a server out of
# disk, memory or connections (53), and a read-only server (25006).
UNAVAILABLE_SQLSTATES = ("08", "57P", "53", "25006")


class ServiceUnavailable(TandemError):
    """A backing service (database, broadcast) cannot be reached; nothing was written."""

    def __init__(self, message: str = "a backing service is unavailable") -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)
