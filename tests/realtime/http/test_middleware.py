"""What every answer carries: a request id, security headers, CORS for the configured
origins only, and the body and message limits that the settings give."""

from __future__ import annotations

import dataclasses
import re

import httpx

from realtime.settings import Settings
from tests.support import register, start_server
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
