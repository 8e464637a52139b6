"""The contract's error table: each code mapped once to an HTTP status."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from realtime.http.bodies import api_response
from realtime.ops import metrics
from storage.errors import TandemError

HTTP_STATUS: dict[str, int] = {
    "malformed_request": 400,
    "unauthenticated": 401,
    "token_expired": 401,
    "token_revoked": 401,
    "invalid_credentials": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "username_taken": 409,
    "email_taken": 409,
    "schedule_conflict": 409,
    "version_conflict": 409,
    "precondition_failed": 412,
    "too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "invalid_patch": 422,
    "invalid_event": 422,
    "test_failed": 422,
    "rate_limited": 429,
    "internal_error": 500,
    "unavailable": 503,
}

# Starlette's own HTTP errors (no route, wrong method) in the contract's shape.
_CODE_FOR_STATUS = {404: "not_found", 405: "method_not_allowed", 400: "malformed_request"}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def error_response(request: Request, error: TandemError) -> Response:
    status = HTTP_STATUS.get(error.code, 400)
    metrics.ERRORS.labels(error.code, "http").inc()
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 429:
        headers["Retry-After"] = str(error.details.get("retry_after", 1))
    return api_response(
        request, error_body(error.code, error.message, error.details), status, headers
    )


async def on_tandem_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TandemError)
    return error_response(request, exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODE_FOR_STATUS.get(exc.status_code, "malformed_request")
    message = "no such route" if exc.status_code == 404 else str(exc.detail).lower()
    response = error_response(request, TandemError(code, message))
    response.status_code = exc.status_code
    if exc.headers:
        response.headers.update(exc.headers)
    return response


EXCEPTION_HANDLERS = {
    TandemError: on_tandem_error,
    HTTPException: on_http_exception,
}
# Anything else is answered 500 internal_error by realtime.http.middleware.RequestEnvelope,
# which wraps these handlers, so that the answer carries the request id.
