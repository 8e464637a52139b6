"""PATCH /events/{id} (PROTOCOL.md, Events: JSON Patch), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import msgspec
import pytest

from tests.support import create_event, error_code, register

pytestmark = pytest.mark.timeout(120)

EVENTS = "/api/v1/events"
PATCH_JSON = {"Content-Type": "application/json-patch+json"}


async def test_patch_rules(client: httpx.AsyncClient) -> None:
    """PATCH applies RFC 6902 to document paths only, atomically, with the contract's codes."""
    alice = await register(client)
    event = await create_event(client, alice, metadata={"color": "red"})
    url = f"{EVENTS}/{event['id']}"
    headers = {**alice.headers, **PATCH_JSON}

    async def patch(ops: object) -> httpx.Response:
        return await client.patch(url, json=ops, headers=headers)

    ok = await patch(
        [
            {"op": "replace", "path": "/metadata/color", "value": "blue"},
            {"op": "add", "path": "/recurrence/-", "value": "RRULE:FREQ=DAILY;COUNT=3"},
        ]
    )
    assert ok.status_code == 200
    assert ok.json()["metadata"] == {"color": "blue"} and ok.json()["version"] == 2
    cases = [
        ([{"op": "replace", "path": "/version", "value": 9}], "invalid_patch"),
        ([{"op": "replace", "path": "/id", "value": 9}], "invalid_patch"),
        ([], "invalid_patch"),
        ({"op": "replace"}, "invalid_patch"),
        ([{"op": "jump", "path": "/title"}], "invalid_patch"),
        ([{"op": "test", "path": "/title", "value": "nope"}], "test_failed"),
        (
            [{"op": "replace", "path": "/title", "value": "t"}, {"op": "remove", "path": "/title"}],
            "invalid_event",
        ),
        (
            [{"op": "replace", "path": "/end_time", "value": "2000-01-01T00:00:00Z"}],
            "invalid_event",
        ),
    ]
    for ops, expected in cases:
        response = await patch(ops)
        assert (response.status_code, error_code(response)) == (422, expected), ops
    too_many = await patch([{"op": "test", "path": "/title", "value": "Design review"}] * 101)
    assert (too_many.status_code, error_code(too_many)) == (413, "too_large")
    after = (await client.get(url, headers=alice.headers)).json()
    assert after["version"] == 2 and after["title"] == "Design review"
    noop = await patch([{"op": "test", "path": "/title", "value": "Design review"}])
    assert noop.status_code == 200 and noop.json()["version"] == 2
    wrong_type = await client.patch(
        url, content=b"[]", headers={**alice.headers, "Content-Type": "text/plain"}
    )
    assert (wrong_type.status_code, error_code(wrong_type)) == (415, "unsupported_media_type")


# A new valid value for each of the ten document fields of the contract (v1.1 added
# overrides: the second occurrence of the daily rule set just before).
FIELD_VALUES = {
    "title": "Retro",
    "description": "What went well",
    "location": "Room 4",
    "start_time": "2026-03-02T07:30:00Z",
    "end_time": "2026-03-02T10:00:00Z",
    "timezone": "America/New_York",
    "all_day": True,
    "recurrence": ["RRULE:FREQ=DAILY;COUNT=2"],
    "metadata": {"color": "green"},
    "overrides": {"2026-03-03T07:30:00Z": {"title": "Retro, day two"}},
}


async def test_every_document_field_and_nothing_else_can_be_patched(
    client: httpx.AsyncClient,
) -> None:
    """A patch to each document field applies; one to any other root is invalid_patch."""
    alice = await register(client)
    event = await create_event(client, alice)
    url = f"{EVENTS}/{event['id']}"
    headers = {**alice.headers, **PATCH_JSON}
    for version, (field, value) in enumerate(FIELD_VALUES.items(), start=2):
        ops = [{"op": "replace", "path": f"/{field}", "value": value}]
        response = await client.patch(url, json=ops, headers=headers)
        assert response.status_code == 200, (field, response.text)
        assert (response.json()[field], response.json()["version"]) == (value, version)
    # Every other field of the answer is the server's (id, version, times, role...).
    server_fields = set(event) - set(FIELD_VALUES)
    assert {"id", "version", "owner_id", "created_at"} <= server_fields
    for root in [*sorted(server_fields), "colour", ""]:
        for op in ("replace", "add"):
            ops = [{"op": op, "path": f"/{root}", "value": 1}]
            response = await client.patch(url, json=ops, headers=headers)
            assert (response.status_code, error_code(response)) == (422, "invalid_patch"), ops
    whole = [{"op": "replace", "path": "", "value": {**event, "title": "All of it"}}]
    response = await client.patch(url, json=whole, headers=headers)
    assert (response.status_code, error_code(response)) == (422, "invalid_patch")
    after = (await client.get(url, headers=alice.headers)).json()
    assert after["version"] == 1 + len(FIELD_VALUES)
    assert {field: after[field] for field in FIELD_VALUES} == FIELD_VALUES


async def test_patch_takes_only_json_patch_and_msgpack(client: httpx.AsyncClient) -> None:
    """PATCH in application/json, or with no content type, is 415 and changes nothing;
    application/json-patch+json and application/msgpack are applied."""
    alice = await register(client)
    event = await create_event(client, alice)
    url = f"{EVENTS}/{event['id']}"
    ops = [{"op": "replace", "path": "/title", "value": "changed"}]
    body = json.dumps(ops).encode()
    for content_type in ("application/json", None):
        headers = {**alice.headers, **({"Content-Type": content_type} if content_type else {})}
        refused = await client.patch(url, content=body, headers=headers)
        assert (refused.status_code, error_code(refused)) == (415, "unsupported_media_type")
        assert refused.json()["error"]["details"]["accepted"] == [
            "application/json-patch+json",
            "application/msgpack",
        ]
    unchanged = (await client.get(url, headers=alice.headers)).json()
    assert (unchanged["version"], unchanged["title"]) == (1, event["title"])
    as_patch = await client.patch(url, content=body, headers={**alice.headers, **PATCH_JSON})
    assert as_patch.status_code == 200 and as_patch.json()["version"] == 2
    packed = msgspec.msgpack.encode([{"op": "replace", "path": "/title", "value": "packed"}])
    headers = {**alice.headers, "Content-Type": "application/msgpack"}
    as_msgpack = await client.patch(url, content=packed, headers=headers)
    assert as_msgpack.status_code == 200 and as_msgpack.json()["title"] == "packed"


async def test_an_empty_patch_of_the_wrong_type_is_415(client: httpx.AsyncClient) -> None:
    """An empty PATCH body with a type PATCH does not take, or none, is 415 like any other
    body of that type (the type is checked first); an empty JSON Patch is 400, and an
    empty body of a type a route takes is 400 there too."""
    alice = await register(client)
    event = await create_event(client, alice)
    url = f"{EVENTS}/{event['id']}"
    for type_header in ({"Content-Type": "text/plain"}, {}):
        refused = await client.patch(url, headers={**alice.headers, **type_header})
        assert (refused.status_code, error_code(refused)) == (415, "unsupported_media_type")
        assert refused.json()["error"]["details"]["accepted"] == [
            "application/json-patch+json",
            "application/msgpack",
        ]
    empty = await client.patch(url, headers={**alice.headers, **PATCH_JSON})
    assert (empty.status_code, error_code(empty)) == (400, "malformed_request")
    for type_header in ({"Content-Type": "application/json"}, {}):
        empty = await client.put(url, headers={**alice.headers, **type_header})
        assert (empty.status_code, error_code(empty)) == (400, "malformed_request")
    logout = await client.post(
        "/api/v1/auth/logout", headers={**alice.headers, "Content-Type": "text/plain"}
    )
    assert logout.status_code == 204, logout.text  # an optional body left out, whatever its type
