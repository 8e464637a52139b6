"""Every failure answers the contract's error shape, never a stack trace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import msgspec
import pytest
from starlette.requests import Request
from starlette.routing import Route

from realtime.app import create_app
from realtime.settings import Settings
from tests.support import create_event, event_doc, register, server_settings, start_server

pytestmark = pytest.mark.timeout(60)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert "Traceback" not in response.text


async def test_unknown_route_is_not_found(client: httpx.AsyncClient) -> None:
    """An unknown API path is 404 not_found in the error shape."""
    assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    """A known path with the wrong method is 405 method_not_allowed."""
    assert_error(await client.delete("/api/v1/auth/login"), 405, "method_not_allowed")


async def test_405_allows_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    """`Allow` names every method the path takes, though each has its own route."""
    for path, allowed in (
        ("/api/v1/events/1", "DELETE, GET, HEAD, PATCH, PUT"),
        ("/api/v1/events", "GET, HEAD, POST"),
        ("/api/v1/auth/login", "POST"),
    ):
        response = await client.request("OPTIONS", path)
        assert_error(response, 405, "method_not_allowed")
        assert response.headers["allow"] == allowed, path


async def test_unknown_path_is_not_found_whatever_the_method(client: httpx.AsyncClient) -> None:
    """A path that neither a route nor a web demo file answers is 404 not_found for every
    method; a method other than GET or HEAD on a file that exists is 405, with Allow."""
    for method, path in (
        ("POST", "/nope"),
        ("DELETE", "/api/v2/events/1"),
        ("PUT", "/favicon.ico"),
        ("PATCH", "/js/nope.js"),
        ("GET", "/nope"),
    ):
        assert_error(await client.request(method, path), 404, "not_found")
    for path in ("/", "/index.html", "/style.css"):
        response = await client.post(path)
        assert_error(response, 405, "method_not_allowed")
        assert response.headers["allow"] == "GET, HEAD"
    assert (await client.get("/style.css")).status_code == 200


async def test_body_over_one_mebibyte_is_too_large(client: httpx.AsyncClient) -> None:
    """A body over 1 MiB is 413 too_large, declared or streamed."""
    big = b"{" + b" " * (1024 * 1024) + b"}"
    declared = await client.post(
        "/api/v1/auth/register", content=big, headers={"Content-Type": "application/json"}
    )
    assert_error(declared, 413, "too_large")

    async def chunks():
        for _ in range(17):
            yield b" " * 65536

    streamed = await client.post(
        "/api/v1/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(streamed, 413, "too_large")


async def test_msgpack_in_and_out(client: httpx.AsyncClient) -> None:
    """A MessagePack body is accepted and MessagePack is answered when asked for."""
    body = msgspec.msgpack.encode(
        {"username": "packer", "email": "p@example.com", "password": "password1"}
    )
    response = await client.post(
        "/api/v1/auth/register",
        content=body,
        headers={"Content-Type": "application/msgpack", "Accept": "application/msgpack"},
    )
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/msgpack")
    decoded = msgspec.msgpack.decode(response.content)
    assert decoded["user"]["username"] == "packer"
    assert decoded["user"]["created_at"].endswith("Z")


async def test_nul_in_any_string_is_refused_naming_where(client: httpx.AsyncClient) -> None:
    """PostgreSQL cannot store U+0000 (it answered 500): every way in refuses it with 422
    naming where it is, on both databases, and nothing is written."""
    nul = "\u0000"
    owner = await register(client)
    event_id = (await create_event(client, owner))["id"]
    headers = owner.headers
    attempts: list[tuple[str, Callable[[], Awaitable[httpx.Response]]]] = [
        (
            "title",
            lambda: client.post("/api/v1/events", json=event_doc(title=f"a{nul}"), headers=headers),
        ),
        (
            "metadata/a~1b/0",
            lambda: client.post(
                "/api/v1/events",
                content=msgspec.msgpack.encode(event_doc(metadata={"a/b": [nul]})),
                headers={**headers, "Content-Type": "application/msgpack"},
            ),
        ),
        (
            "0/value",
            lambda: client.patch(
                f"/api/v1/events/{event_id}",
                json=[{"op": "replace", "path": "/location", "value": nul}],
                headers={**headers, "Content-Type": "application/json-patch+json"},
            ),
        ),
        ("q", lambda: client.get("/api/v1/events", params={"q": nul}, headers=headers)),
        (
            "password",
            lambda: client.post("/api/v1/auth/login", json={"username": "x", "password": nul}),
        ),
    ]
    for where, send in attempts:
        response = await send()
        assert_error(response, 422, "validation_error")
        assert where in response.json()["error"]["details"]["fields"], response.text
    listed = await client.get("/api/v1/events", headers=headers)
    assert [e["version"] for e in listed.json()["items"]] == [1]


@pytest.mark.traceback_expected
async def test_unexpected_error_is_500_without_details(settings: Settings) -> None:
    """A bug answers 500 internal_error without a stack trace or the exception text."""
    running = await start_server(settings)
    app = running.server.config.app

    async def broken(request: Request) -> None:
        raise RuntimeError("SELECT secret FROM users -- boom")

    app.router.routes.insert(0, Route("/api/v1/broken", broken))
    try:
        async with httpx.AsyncClient(base_url=running.url) as http:
            response = await http.get("/api/v1/broken")
        assert_error(response, 500, "internal_error")
        assert "SELECT" not in response.text and "boom" not in response.text
        # The id to quote when reporting it, and the same headers as any answer.
        assert response.headers["X-Request-ID"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        await running.stop()


async def test_health_reports_each_part(client: httpx.AsyncClient) -> None:
    """/health answers ok for the database and the broadcast, with the version."""
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == body["database"] == body["broadcast"] == "ok"
    assert body["version"]


async def test_health_names_a_dead_database(tmp_path) -> None:
    """/health answers 503 naming the database when it cannot be reached."""
    settings = server_settings(database_url="postgresql://postgres@127.0.0.1:1/none")
    running = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=running.url) as http:
            response = await http.get("/health")
        assert response.status_code == 503
        assert response.json()["database"] == "unavailable"
        assert response.json()["broadcast"] == "ok"
        login = await http_post_login(running.url)
        assert_error(login, 503, "unavailable")
    finally:
        await running.stop()


async def http_post_login(url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as http:
        return await http.post(
            "/api/v1/auth/login", json={"username": "a", "password": "password1"}
        )


def test_create_app_is_importable_without_environment() -> None:
    """The factory builds an app from explicit settings without touching the environment."""
    app = create_app(Settings(secret_key="y" * 40))
    assert app.routes
