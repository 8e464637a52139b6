"""The envelope of every request: its id, security headers, rate-limit headers,
the access log line and the request metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realtime.http.errors import error_response
from realtime.ops import metrics
from realtime.ops.logs import request_id
from realtime.ops.rate_limits import Quota
from storage.audit import RequestOrigin, request_origin
from storage.errors import ErrorCode, TandemError

log = logging.getLogger(__name__)
access_log = logging.getLogger("tandem.access")

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's own request id is kept when it is short and plain (it ends up in logs).
_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CONVERTOR = re.compile(r":[a-z]+}")
# A feed URL carries its secret token in the path (a calendar application sends no
# header): whatever follows this prefix is never logged, whichever route answered (a
# mangled feed URL falls through to the static files, and must not be logged either).
_FEED_PREFIX = "/ical/"

# Everything the app serves is same-origin: the demo page talks to its own API
# and WebSocket, and nothing may frame it.
DEFAULT_CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# Only over HTTPS (directly or behind a proxy that says so), as the RFC requires.
HSTS = "max-age=31536000; includeSubDomains"


class RequestEnvelope:
    """Pure ASGI middleware, so that streaming answers and WebSockets pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        this_request = _request_id(scope)
        token = request_id.set(this_request)
        client = scope.get("client")
        origin = request_origin.set(RequestOrigin(client[0] if client else None, this_request))
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
            else:
                await self._http(scope, receive, send)
        finally:
            request_origin.reset(origin)
            request_id.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status: int | None = None
        # Before routing, which moves the scope's root_path into each mount.
        path = loggable_path(scope)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self._decorate(scope, MutableHeaders(scope=message))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if status is not None:
                raise  # half an answer is out: only the server can end the connection
            # Logged in full, with the request id; the client learns only that it was
            # our fault, and which id to quote.
            log.exception("unhandled error on %s %s", scope["method"], path)
            failure = TandemError(ErrorCode.INTERNAL_ERROR, "internal server error")
            await error_response(Request(scope), failure)(scope, receive, send_with_headers)
        finally:
            status = status or 500
            elapsed = time.perf_counter() - started
            route = route_label(scope)
            method = scope["method"]
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, route).observe(elapsed)
            access_log.info(
                "%s %s %d",
                method,
                path,
                status,
                extra={
                    "method": method,
                    "path": path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": scope["client"][0] if scope.get("client") else None,
                },
            )

    def _decorate(self, scope: Scope, headers: MutableHeaders) -> None:
        headers[REQUEST_ID_HEADER] = request_id.get() or ""
        for name, value in SECURITY_HEADERS.items():
            headers.setdefault(name, value)
        # A page with needs of its own (/docs) sets its policy itself.
        headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
        if scope.get("scheme") == "https":
            headers.setdefault("Strict-Transport-Security", HSTS)
        if scope["path"].startswith("/api/"):
            # Answers carry tokens and people's calendars: never cache them.
            headers.setdefault("Cache-Control", "no-store")
        quota: Quota | None = scope.get("state", {}).get("rate_limit")
        if quota is not None:
            for name, value in quota.headers().items():
                headers[name] = value


def route_label(scope: Scope) -> str:
    """The route template that answered ("/api/v1/events/{event_id}"), never the raw path,
    so that metrics keep a bounded number of series."""
    route: Any = scope.get("route")
    if route is None:
        return "unmatched"
    if isinstance(route, Mount):
        return "static" if route.name == "web-demo" else "unmatched"
    return scope.get("root_path", "") + _CONVERTOR.sub("}", route.path)


def loggable_path(scope: Scope) -> str:
    """The request's path as logs show it: a feed's token is replaced by `<redacted>`."""
    path: str = scope["path"]
    prefix = scope.get("root_path", "") + _FEED_PREFIX
    return prefix + "<redacted>" if path.startswith(prefix) else path


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _ACCEPTABLE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex
