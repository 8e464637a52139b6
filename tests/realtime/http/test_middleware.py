"""What every answer carries: a request id, security headers, CORS for the configured
origins only, and the body and message limits that the settings give."""

from __future__ import annotations

import dataclasses
import logging
import re

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route

from realtime.ops.logs import JsonFormatter
from realtime.settings import Settings
from tests.support import RunningServer, register, start_server
from tests.ws_client import Sockets


async def test_security_headers_on_api_and_page(client: httpx.AsyncClient) -> None:
    """Every answer carries the security headers, no HSTS over plain HTTP, and /api/ is no-store."""
    for path in ("/api/v1/auth/me", "/", "/health"):
        response = await client.get(path)
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert "default-src 'self'" in headers["Content-Security-Policy"], path
        # Plain HTTP here: HSTS would be a lie.
        assert "Strict-Transport-Security" not in headers, path
    api = await client.get("/api/v1/auth/me")
    assert api.headers["Cache-Control"] == "no-store"


async def test_request_id_is_kept_or_made(client: httpx.AsyncClient) -> None:
    """A well-formed X-Request-ID is echoed; a missing or forged one is replaced by a new id."""
    made = await client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    kept = await client.get("/health", headers={"X-Request-ID": "edge-7f3a.1"})
    assert kept.headers["X-Request-ID"] == "edge-7f3a.1"
    # Anything that could forge a log line is replaced, not echoed.
    forged = await client.get("/health", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-ID"])


async def test_cors_answers_only_configured_origins(settings: Settings) -> None:
    """CORS allows a configured origin (exposing the rate-limit and request id headers) only."""
    allowed = "https://calendar.example.com"
    running = await start_server(dataclasses.replace(settings, cors_origins=(allowed,)))
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            preflight = await client.options(
                "/api/v1/events",
                headers={
                    "Origin": allowed,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,content-type",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["Access-Control-Allow-Origin"] == allowed
            simple = await client.get("/health", headers={"Origin": allowed})
            exposed = simple.headers["Access-Control-Expose-Headers"]
            assert "RateLimit-Remaining" in exposed and "X-Request-ID" in exposed
            stranger = await client.get("/health", headers={"Origin": "https://evil.example"})
            assert "Access-Control-Allow-Origin" not in stranger.headers
    finally:
        await running.stop()


async def test_body_and_message_limits_come_from_settings(settings: Settings) -> None:
    """MAX_BODY_BYTES and WS_MAX_MESSAGE_BYTES set the 413 and the WebSocket close limits."""
    small = dataclasses.replace(settings, max_body_bytes=2048, ws_max_message_bytes=4096)
    running = await start_server(small)
    sockets = Sockets()
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            account = await register(client)
            response = await client.post(
                "/api/v1/events",
                json={"title": "x" * 3000},
                headers=account.headers,
            )
            assert response.status_code == 413
            assert response.json()["error"]["details"]["limit"] == 2048
            ws = await sockets.ready(running.ws_url, account.access_token)
            await ws.send_raw("x" * 5000)
            await ws.expect_close(1009)
    finally:
        await sockets.close_all()
        await running.stop()


@pytest.mark.traceback_expected
async def test_a_feed_token_is_never_logged(
    server: RunningServer, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A feed's secret token is in no log line: not in the access lines of its answers
    (200, 304, a mangled URL no route takes), nor in the error line of a fault on it."""
    alice = await register(client)
    created = await client.post("/api/v1/feeds", headers=alice.headers)
    path = httpx.URL(created.json()["url"]).path
    token = path.removeprefix("/ical/").removesuffix(".ics")

    async def broken(request: Request) -> None:
        raise RuntimeError("a fault while serving a feed")

    with caplog.at_level(logging.INFO):
        fetched = await client.get(path)
        assert fetched.status_code == 200
        held = {"If-None-Match": fetched.headers["etag"]}
        assert (await client.get(path, headers=held)).status_code == 304
        assert (await client.get(path + "/")).status_code == 404
        server.server.config.app.router.routes.insert(0, Route("/ical/{token}.ics", broken))
        assert (await client.get(path)).status_code == 500
    # The test's own HTTP client logs its URLs; everything else was the server's.
    logged = [r for r in caplog.records if r.name.partition(".")[0] not in ("httpx", "httpcore")]
    access = [r for r in logged if r.name == "tandem.access"]
    assert [(r.__dict__["path"], r.__dict__["status"]) for r in access] == [
        ("/ical/<redacted>", 200),
        ("/ical/<redacted>", 304),
        ("/ical/<redacted>", 404),
        ("/ical/<redacted>", 500),
    ]
    assert any(r.exc_info for r in logged), "the fault was logged"
    formatter = JsonFormatter()
    for record in logged:
        assert token not in formatter.format(record), record.getMessage()
