"""The one error type of Tandem: a stable machine code, a message and details.

It lives in the lowest package so that storage, auth and realtime all raise the
same thing; realtime maps the code once to an HTTP status and once to a WebSocket
error message.
"""

from __future__ import annotations

from typing import Any


class TandemError(Exception):
    """An expected failure with a stable code from the contract's error table."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    def __repr__(self) -> str:
        return f"TandemError({self.code!r}, {self.message!r})"


def validation_error(fields: dict[str, str], message: str = "invalid input") -> TandemError:
    """A 422 naming every bad field."""
    return TandemError("validation_error", message, {"fields": fields})


def not_found(what: str) -> TandemError:
    return TandemError("not_found", f"{what} not found")


class ServiceUnavailable(TandemError):
    """A backing service (database, broadcast) cannot be reached; nothing was written."""

    def __init__(self, message: str = "a backing service is unavailable") -> None:
        super().__init__("unavailable", message)
