"""The contract's error table: each code mapped once to an HTTP status.

The table must name every ErrorCode: a code without a status is refused at import,
so that no error is ever answered with a status picked by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

from realtime.http.bodies import api_response
from realtime.ops import metrics
from storage.errors import ErrorCode, TandemError

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.MALFORMED_REQUEST: 400,
    # A WebSocket code; a REST body that is not a valid message is malformed_request.
    ErrorCode.INVALID_MESSAGE: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.TOKEN_REVOKED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.USERNAME_TAKEN: 409,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.SCHEDULE_CONFLICT: 409,
    ErrorCode.VERSION_CONFLICT: 409,
    ErrorCode.CURSOR_EXPIRED: 410,
    ErrorCode.PRECONDITION_FAILED: 412,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.INVALID_PATCH: 422,
    ErrorCode.INVALID_EVENT: 422,
    ErrorCode.TEST_FAILED: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.UNAVAILABLE: 503,
}
if _unmapped := set(ErrorCode) - HTTP_STATUS.keys():
    raise RuntimeError(f"error codes without an HTTP status: {sorted(_unmapped)}")

# Starlette's own HTTP errors (no route, wrong method) in the contract's shape.
_CODE_FOR_STATUS = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    400: ErrorCode.MALFORMED_REQUEST,
}


def error_body(
    code: ErrorCode, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def error_response(request: Request, error: TandemError) -> Response:
    status = HTTP_STATUS[error.code]
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
    code = _CODE_FOR_STATUS.get(exc.status_code, ErrorCode.MALFORMED_REQUEST)
    message = "no such route" if exc.status_code == 404 else str(exc.detail).lower()
    response = error_response(request, TandemError(code, message))
    response.status_code = exc.status_code
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        # A web demo file's own 405 names GET and HEAD, and no route has its path.
        scope = request.scope
        # The scope as the router first saw it: routing has moved its root_path since.
        root = scope.get("app_root_path", scope.get("root_path", ""))
        start = {"type": "http", "path": scope["path"], "root_path": root, "method": "OPTIONS"}
        allowed = _allowed_methods(start, request.app.router.routes)
        if allowed:
            response.headers["Allow"] = ", ".join(sorted(allowed))
    return response


def _allowed_methods(scope: Scope, routes: Sequence[BaseRoute]) -> set[str]:
    """Every method some route takes at this path. A path's methods are spread over
    several routes (one per handler), and Starlette's 405 names only the first's."""
    allowed: set[str] = set()
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount):
            allowed |= _allowed_methods({**scope, **child_scope}, route.routes)
        elif isinstance(route, Route) and route.methods:
            allowed |= route.methods
    return allowed


EXCEPTION_HANDLERS = {
    TandemError: on_tandem_error,
    HTTPException: on_http_exception,
}
# Anything else is answered 500 internal_error by realtime.http.middleware.RequestEnvelope,
# which wraps these handlers, so that the answer carries the request id.
