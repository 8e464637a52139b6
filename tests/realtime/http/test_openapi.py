"""/openapi.json describes every route and error of the contract; /docs works offline."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from playwright.async_api import Browser
from playwright.async_api import Route as BrowserRoute
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from realtime.http.errors import HTTP_STATUS
from realtime.http.openapi import Operation, build_document, describe
from storage.records import MAX_ID
from tests.shared_docs import SHARED, require_shared
from tests.support import RunningServer

pytestmark = pytest.mark.timeout(60)
# The document and the page do not depend on the database.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PROTOCOL = SHARED / "PROTOCOL.md"
METHODS = {"get", "put", "post", "delete", "patch"}


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()  # type: ignore[no-any-return]


def router_operations(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(path, method) of every endpoint in the app's route table, read independently."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= router_operations(route.routes, prefix + route.path)
        elif isinstance(route, WebSocketRoute):
            found.add((prefix + route.path_format, "get"))
        elif isinstance(route, Route):
            methods = {m.lower() for m in route.methods or ()} - {"head"}
            found |= {(prefix + route.path_format, method) for method in methods}
    return found


def error_codes(document: dict[str, Any]) -> dict[str, set[int]]:
    """Each documented error code, with the statuses it is documented under."""
    codes: dict[str, set[int]] = {}
    for item in document["paths"].values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for status, response in operation["responses"].items():
                for content in response.get("content", {}).values():
                    for part in content["schema"].get("allOf", []):
                        code = part.get("properties", {}).get("error", {}).get("properties", {})
                        for value in code.get("code", {}).get("enum", []):
                            codes.setdefault(value, set()).add(int(status))
    return codes


@SQLITE_ONLY
async def test_openapi_json_is_valid_openapi_3_1(client: httpx.AsyncClient) -> None:
    """GET /openapi.json answers a document that validates as OpenAPI 3.1."""
    document = await openapi(client)
    assert document["openapi"].startswith("3.1.")
    problems = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert problems == []


@SQLITE_ONLY
async def test_every_route_of_the_router_is_documented(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    """The document lists exactly the app's routes and methods, the /docs assets aside."""
    document = await openapi(client)
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    routed = router_operations(server.server.config.app.routes)
    assert documented == routed - {("/docs/assets/{name}", "get")}
    assert ("/api/v1/ws", "get") in documented
    assert document["paths"]["/api/v1/ws"]["get"]["responses"].keys() == {"101"}


@SQLITE_ONLY
async def test_every_error_code_of_the_protocol_is_documented(client: httpx.AsyncClient) -> None:
    """Every code of PROTOCOL.md's error table is documented, under its table's status."""
    document = await openapi(client)
    documented = error_codes(document)
    contract = require_shared(PROTOCOL, "PROTOCOL.md").read_text()
    table = contract.split("## Errors", 1)[1].split("\n## ", 1)[0]
    protocol: dict[str, int] = {}
    for status, codes in re.findall(r"^\| (\d{3}) \| (.+) \|$", table, re.M):
        for code in re.findall(r"`([a-z_]+)`", codes):
            protocol[code] = int(status)
    assert len(protocol) >= 20
    # REST edits have no base_version, so only a WebSocket patch can conflict.
    websocket_only = {"version_conflict"}
    for code, status in protocol.items():
        if code not in websocket_only:
            assert documented.get(code) == {status}, code
    ws = document["paths"]["/api/v1/ws"]["get"]["description"]
    assert all(f"`{code}`" in ws for code in websocket_only)
    assert set(documented) <= set(HTTP_STATUS)


@SQLITE_ONLY
async def test_path_ids_past_the_documented_maximum_find_no_route(
    client: httpx.AsyncClient,
) -> None:
    """Ids are documented up to MAX_ID; a larger one is 404 not_found, not a database error."""
    document = await openapi(client)
    parameter = document["paths"]["/api/v1/events/{event_id}"]["get"]["parameters"][0]
    assert parameter["schema"]["maximum"] == MAX_ID
    for too_big in (MAX_ID + 1, 10**30):
        response = await client.get(f"/api/v1/events/{too_big}/history/{too_big}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@SQLITE_ONLY
async def test_authenticated_routes_declare_bearer_and_401(client: httpx.AsyncClient) -> None:
    """Routes that need a token say so and document 401 with WWW-Authenticate."""
    document = await openapi(client)
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    me = document["paths"]["/api/v1/auth/me"]["get"]
    assert me["security"] == [{"bearer": []}]
    assert "WWW-Authenticate" in me["responses"]["401"]["headers"]
    assert document["paths"]["/api/v1/auth/register"]["post"]["security"] == []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/v1/") and path != "/api/v1/ws":
                assert "Retry-After" in operation["responses"]["429"]["headers"], (path, method)


@SQLITE_ONLY
async def test_request_bodies_name_every_content_type_the_route_takes(
    client: httpx.AsyncClient,
) -> None:
    """JSON and MessagePack everywhere, plus JSON Patch for PATCH and a form for login."""
    paths = (await openapi(client))["paths"]
    login = paths["/api/v1/auth/login"]["post"]["requestBody"]["content"]
    assert set(login) == {
        "application/json",
        "application/msgpack",
        "application/x-www-form-urlencoded",
    }
    patch = paths["/api/v1/events/{event_id}"]["patch"]["requestBody"]["content"]
    assert set(patch) == {"application/json-patch+json", "application/msgpack"}
    created = paths["/api/v1/events"]["post"]["responses"]["201"]
    assert set(created["content"]) == {"application/json", "application/msgpack"}
    assert "ETag" in created["headers"]


def test_a_route_without_declaration_fails_generation() -> None:
    """Generating the document refuses a route whose handler declares nothing."""

    async def undeclared(request: Any) -> None: ...

    @describe(Operation(summary="fine", tag="t", responses={204: None}, auth=False))
    async def declared(request: Any) -> None: ...

    routes = [Route("/fine", declared), Mount("/api", routes=[Route("/lost", undeclared)])]
    with pytest.raises(RuntimeError, match=r"/api/lost .*undeclared"):
        build_document(routes, info={"title": "t", "version": "1"})


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@SQLITE_ONLY
async def test_docs_page_serves_every_asset_itself(client: httpx.AsyncClient) -> None:
    """GET /docs and each asset it loads answer 200 from the app; nothing is external."""
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text
    links = _Links()
    links.feed(page.text)
    assert len(links.urls) >= 4
    for url in links.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content
    start = await client.get("/docs/assets/start.js")
    assert '"/openapi.json"' in start.text
    missing = await client.get("/docs/assets/nothing.js")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


@SQLITE_ONLY
async def test_docs_render_offline_under_their_content_security_policy(
    server: RunningServer, browser: Browser
) -> None:
    """In a browser, /docs renders every operation and runs a call with no outside
    request and no Content-Security-Policy violation."""
    outside: list[str] = []
    complaints: list[str] = []

    async def only_this_server(route: BrowserRoute) -> None:
        url = route.request.url
        if url.startswith(server.url + "/") or url.startswith("data:"):
            await route.continue_()
        else:
            outside.append(url)
            await route.abort()

    page = await browser.new_page()
    try:
        page.on("console", lambda message: complaints.append(message.text))
        page.on("pageerror", lambda error: complaints.append(str(error)))
        await page.route("**/*", only_this_server)
        await page.goto(server.url + "/docs")
        await page.wait_for_selector("#operations-operations-health")
        assert await page.locator(".opblock").count() >= 25
        await page.click("#operations-operations-health .opblock-summary")
        await page.click("text=Try it out")
        await page.click("text=Execute")
        await page.wait_for_selector(".live-responses-table tbody .response-col_status")
        status = await page.inner_text(".live-responses-table tbody .response-col_status")
        assert status.strip() == "200"
    finally:
        await page.close()
    assert outside == []
    assert complaints == []
