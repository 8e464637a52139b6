"""REST bodies built to break the parser (deep nesting, bad UTF-8) are answered 400
`malformed_request` in the contract's shape, never 500, and write nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from realtime.settings import Settings
from tests.conftest import fresh_sqlite
from tests.support import Account, event_doc, register

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite alone: what is refused here is refused while decoding, before any query."""
    return fresh_sqlite(sqlite_template, tmp_path)


EVENTS = "/api/v1/events"
JSON = {"Content-Type": "application/json"}
MSGPACK = {"Content-Type": "application/msgpack"}


def nested(depth: int) -> Any:
    """An object `depth` levels deep: {"a": {"a": ... 1}}."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def assert_malformed(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert "Traceback" not in response.text
    return str(error["message"])


async def event_count(client: httpx.AsyncClient, account: Account) -> int:
    return len((await client.get(EVENTS, headers=account.headers)).json()["items"])


@pytest.mark.parametrize("media", ["json", "msgpack"])
async def test_body_nested_1000_deep_is_malformed(client: httpx.AsyncClient, media: str) -> None:
    """An event whose metadata nests 1,000 deep is 400 malformed_request, nothing created."""
    alice = await register(client)
    # Written out by hand: the encoders themselves give up on such depths.
    if media == "json":
        body = msgspec.json.encode(event_doc(metadata=0))
        content = body[: body.rindex(b"0")] + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}"
        headers = {**alice.headers, **JSON}
    else:
        body = msgspec.msgpack.encode(event_doc(metadata=0))  # metadata last, 0 last byte
        content = body[:-1] + b"\x81\xa1a" * 1000 + b"\x01"
        headers = {**alice.headers, **MSGPACK}
    response = await client.post(EVENTS, content=content, headers=headers)
    assert_malformed(response)
    assert await event_count(client, alice) == 0


async def test_nesting_limit_applies_to_rest_bodies(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A body nested one level past MAX_NESTING_DEPTH is refused naming the limit, also as a
    JSON Patch; one at the limit is taken (the body object is the first level)."""
    alice = await register(client)
    limit = settings.max_nesting_depth
    # The body is level 1, so metadata nested(limit - 1) reaches the limit exactly.
    fits = await client.post(
        EVENTS, json=event_doc(metadata=nested(limit - 1)), headers=alice.headers
    )
    assert fits.status_code == 201, fits.text
    too_deep = await client.post(
        EVENTS, json=event_doc(metadata=nested(limit)), headers=alice.headers
    )
    assert str(limit) in assert_malformed(too_deep)
    ops = [{"op": "add", "path": "/metadata/x", "value": nested(limit)}]
    patch = await client.patch(
        f"{EVENTS}/{fits.json()['id']}",
        json=ops,
        headers={**alice.headers, "Content-Type": "application/json-patch+json"},
    )
    assert_malformed(patch)
    assert (await client.get(f"{EVENTS}/{fits.json()['id']}", headers=alice.headers)).json()[
        "version"
    ] == 1


@pytest.mark.parametrize(
    "media, content",
    [
        ("msgpack", bytes.fromhex("81a474797065a470ff6e67")),
        ("json", b'{"title": "p\xffng"}'),
    ],
)
async def test_body_with_invalid_utf8_is_malformed(
    client: httpx.AsyncClient, media: str, content: bytes
) -> None:
    """A body whose string is not UTF-8, in MessagePack or JSON, is 400 malformed_request."""
    alice = await register(client)
    headers = {**alice.headers, **(MSGPACK if media == "msgpack" else JSON)}
    assert_malformed(await client.post(EVENTS, content=content, headers=headers))
    assert await event_count(client, alice) == 0


@pytest.mark.parametrize(
    "media, content",
    [("msgpack", msgspec.msgpack.encode(1.5)), ("json", b"1.5"), ("json", b'"text"')],
)
async def test_a_bare_scalar_body_is_refused_not_a_fault(
    client: httpx.AsyncClient, media: str, content: bytes
) -> None:
    """A body that is one scalar (nothing nested at all) is 422 validation_error, not 500."""
    alice = await register(client)
    headers = {**alice.headers, **(MSGPACK if media == "msgpack" else JSON)}
    response = await client.post(EVENTS, content=content, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("media, content", [("json", b"null"), ("msgpack", b"\xc0")])
async def test_a_null_body_is_no_object(
    client: httpx.AsyncClient, media: str, content: bytes
) -> None:
    """A body of null (MessagePack nil) is 422 validation_error naming `body`, like `[]`,
    where a body is required and where it is optional: it is a body, not the lack of
    one. Leaving an optional body out is still fine."""
    alice = await register(client)
    headers = {**alice.headers, **(MSGPACK if media == "msgpack" else JSON)}
    created = await client.post(EVENTS, json=event_doc(), headers=alice.headers)
    url = f"{EVENTS}/{created.json()['id']}"
    for method, path in (("POST", EVENTS), ("PUT", url), ("POST", "/api/v1/auth/logout")):
        response = await client.request(method, path, content=content, headers=headers)
        assert response.status_code == 422, (method, path, response.text)
        error = response.json()["error"]
        assert (error["code"], list(error["details"]["fields"])) == ("validation_error", ["body"])
    assert (await client.get(url, headers=alice.headers)).json()["version"] == 1
    assert await event_count(client, alice) == 1
    logout = await client.post("/api/v1/auth/logout", headers=alice.headers)
    assert logout.status_code == 204, logout.text


# msgspec encodes a datetime as MessagePack's timestamp extension (type -1).
TIMESTAMP = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "extension", [msgspec.msgpack.Ext(1, b"ab"), TIMESTAMP], ids=["type-1", "timestamp"]
)
async def test_a_msgpack_extension_in_a_body_is_refused_where_it_sits(
    client: httpx.AsyncClient, extension: object
) -> None:
    """REST refuses any MessagePack extension value, the timestamp type (-1) included,
    as it refuses every value JSON cannot carry: 422 from the rule of the field it sits
    in (not a 400 while decoding, as on the WebSocket), and nothing written."""
    alice = await register(client)
    headers = {**alice.headers, **MSGPACK}
    created = await client.post(EVENTS, json=event_doc(), headers=alice.headers)
    url = f"{EVENTS}/{created.json()['id']}"
    replace = {"op": "replace", "path": "/title", "value": extension}
    for method, path, body, code in (
        ("POST", EVENTS, event_doc(title=extension), "validation_error"),
        ("POST", EVENTS, event_doc(metadata={"k": [extension]}), "validation_error"),
        ("PUT", url, {"metadata": {"k": extension}}, "validation_error"),
        ("PATCH", url, [replace], "invalid_patch"),
    ):
        content = msgspec.msgpack.encode(body)
        response = await client.request(method, path, content=content, headers=headers)
        assert response.status_code == 422, (method, body, response.text)
        assert response.json()["error"]["code"] == code, (method, body, response.text)
    assert (await client.get(url, headers=alice.headers)).json()["version"] == 1
    assert await event_count(client, alice) == 1
