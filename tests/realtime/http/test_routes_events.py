"""Events over REST (PROTOCOL.md, Events), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support import create_event, error_code, event_doc, register, share

pytestmark = pytest.mark.timeout(120)

EVENTS = "/api/v1/events"
PATCH_JSON = {"Content-Type": "application/json-patch+json"}


async def test_create_fills_defaults_and_server_fields(client: httpx.AsyncClient) -> None:
    """A created event has the defaults, version 1, the caller as owner, and an ETag."""
    alice = await register(client)
    response = await client.post(
        EVENTS,
        json={
            "title": "Lunch",
            "start_time": "2026-03-02T12:00:00+01:00",
            "end_time": "2026-03-02T13:00:00+01:00",
        },
        headers=alice.headers,
    )
    assert response.status_code == 201
    event = response.json()
    assert event["start_time"] == "2026-03-02T11:00:00Z"
    assert event["description"] == "" and event["location"] is None
    assert event["timezone"] == "UTC" and event["all_day"] is False
    assert event["recurrence"] == [] and event["metadata"] == {}
    assert (event["version"], event["role"], event["owner_id"]) == (1, "owner", alice.id)
    assert event["updated_by"] == alice.id
    assert response.headers["etag"] == '"1"'


async def test_create_names_every_bad_field(client: httpx.AsyncClient) -> None:
    """A bad document is 422 validation_error naming each bad field; nothing is created."""
    alice = await register(client)
    bad = {
        "title": "",
        "start_time": "2026-03-02T10:00:00Z",
        "end_time": "2026-03-02T09:00:00Z",
        "timezone": "Mars/Olympus",
        "recurrence": ["RRULE:FREQ=SOMETIMES"],
        "metadata": {"blob": "x" * 17000},
        "location": "y" * 501,
    }
    response = await client.post(EVENTS, json=bad, headers=alice.headers)
    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    fields = response.json()["error"]["details"]["fields"]
    assert {"title", "end_time", "timezone", "metadata", "location"} <= set(fields)
    listing = await client.get(EVENTS, headers=alice.headers)
    assert listing.json()["items"] == []


async def test_events_are_private_until_shared(client: httpx.AsyncClient) -> None:
    """Another user gets 404 (not 403) for an event it has no access to."""
    alice, mallory = await register(client), await register(client)
    event = await create_event(client, alice)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"{EVENTS}/{event['id']}",
            headers={**mallory.headers, **(PATCH_JSON if method == "PATCH" else {})},
            content=b"[]" if method == "PATCH" else b"{}",
        )
        assert response.status_code == 404, method
        assert error_code(response) == "not_found"
    assert (await client.get(f"{EVENTS}/999999", headers=alice.headers)).status_code == 404
    assert (await client.get(EVENTS, headers=mallory.headers)).json()["items"] == []


async def test_requests_without_a_token_are_refused(client: httpx.AsyncClient) -> None:
    """Every event route needs a bearer token."""
    for method, path in (
        ("GET", EVENTS),
        ("POST", EVENTS),
        ("GET", f"{EVENTS}/1"),
        ("GET", f"{EVENTS}/conflicts"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 401
        assert error_code(response) == "unauthenticated"


async def test_put_changes_a_subset_as_one_version(client: httpx.AsyncClient) -> None:
    """PUT with some fields is one new version; PUT without a change creates none."""
    alice = await register(client)
    event = await create_event(client, alice)
    url = f"{EVENTS}/{event['id']}"
    changed = await client.put(
        url, json={"title": "Renamed", "location": "Room 4"}, headers=alice.headers
    )
    assert changed.status_code == 200
    assert (changed.json()["version"], changed.json()["title"]) == (2, "Renamed")
    same = await client.put(url, json={"title": "Renamed"}, headers=alice.headers)
    assert same.json()["version"] == 2
    bad = await client.put(url, json={"end_time": "2020-01-01T00:00:00Z"}, headers=alice.headers)
    assert (bad.status_code, error_code(bad)) == (422, "validation_error")
    assert "end_time" in bad.json()["error"]["details"]["fields"]
    unknown = await client.put(url, json={"version": 7}, headers=alice.headers)
    assert unknown.status_code == 422


async def test_if_match_guards_put_and_patch(client: httpx.AsyncClient) -> None:
    """If-Match with an old version is 412; with the current one the change applies."""
    alice = await register(client)
    event = await create_event(client, alice)
    url = f"{EVENTS}/{event['id']}"
    stale = await client.put(url, json={"title": "x"}, headers={**alice.headers, "If-Match": '"7"'})
    assert (stale.status_code, error_code(stale)) == (412, "precondition_failed")
    ok = await client.put(url, json={"title": "x"}, headers={**alice.headers, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    patch = [{"op": "replace", "path": "/title", "value": "y"}]
    stale_patch = await client.patch(
        url, json=patch, headers={**alice.headers, **PATCH_JSON, "If-Match": '"1"'}
    )
    assert stale_patch.status_code == 412
    assert (await client.get(url, headers=alice.headers)).json()["title"] == "x"


async def test_if_match_takes_a_list_and_compares_strongly(client: httpx.AsyncClient) -> None:
    """If-Match is a list of entity tags: one naming the current version is enough, `*`
    matches any existing event; a weak tag never matches (strong comparison, RFC 9110),
    nor does one that is no version as the ETag writes it, nor a header that is no list."""
    alice = await register(client)
    event = await create_event(client, alice)
    url = f"{EVENTS}/{event['id']}"

    async def put(if_match: str, title: str) -> httpx.Response:
        return await client.put(
            url, json={"title": title}, headers={**alice.headers, "If-Match": if_match}
        )

    for refused in ('W/"1"', 'W/"1", W/"2"', '"01"', '"abc"', "1", '"7", W/"1"', '"1" "2"'):
        answer = await put(refused, "refused")
        assert (answer.status_code, error_code(answer)) == (412, "precondition_failed"), refused
        assert answer.json()["error"]["details"]["version"] == 1
    listed = await put('"6", "1"', "listed")
    assert listed.status_code == 200 and listed.headers["etag"] == '"2"', listed.text
    spaced = await put('W/"2" ,"9","2"', "spaced")
    assert spaced.status_code == 200 and spaced.headers["etag"] == '"3"', spaced.text
    anything = await put("*", "anything")
    assert anything.status_code == 200 and anything.headers["etag"] == '"4"', anything.text
    ops = [{"op": "replace", "path": "/title", "value": "patched"}]
    headers = {**alice.headers, **PATCH_JSON}
    weak = await client.patch(url, json=ops, headers={**headers, "If-Match": 'W/"4"'})
    assert weak.status_code == 412
    patched = await client.patch(url, json=ops, headers={**headers, "If-Match": '"3", "4"'})
    assert patched.status_code == 200 and patched.json()["title"] == "patched"
    missing = await client.put(
        f"{EVENTS}/2147483647", json={"title": "x"}, headers={**alice.headers, "If-Match": "*"}
    )
    assert (missing.status_code, error_code(missing)) == (404, "not_found")


async def test_roles_limit_what_a_collaborator_may_do(client: httpx.AsyncClient) -> None:
    """A viewer may read but not edit (403); an editor may edit but not delete (403)."""
    alice, bob, carol = await register(client), await register(client), await register(client)
    event = await create_event(client, alice)
    url = f"{EVENTS}/{event['id']}"
    await share(client, alice, event["id"], bob, "viewer")
    await share(client, alice, event["id"], carol, "editor")
    seen = await client.get(url, headers=bob.headers)
    assert seen.status_code == 200 and seen.json()["role"] == "viewer"
    refused = await client.put(url, json={"title": "mine"}, headers=bob.headers)
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")
    edited = await client.put(url, json={"title": "carol's"}, headers=carol.headers)
    assert edited.status_code == 200 and edited.json()["updated_by"] == carol.id
    not_owner = await client.delete(url, headers=carol.headers)
    assert (not_owner.status_code, error_code(not_owner)) == (403, "forbidden")
    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    assert (await client.get(url, headers=alice.headers)).status_code == 404
    assert (await client.get(url, headers=carol.headers)).status_code == 404


async def test_batch_is_all_or_nothing(client: httpx.AsyncClient) -> None:
    """A batch with one bad item creates nothing and names the item by index."""
    alice = await register(client)
    items = [event_doc(title=f"e{i}") for i in range(5)]
    items[3] = event_doc(end_time="2000-01-01T00:00:00Z")
    refused = await client.post(f"{EVENTS}/batch", json={"events": items}, headers=alice.headers)
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    assert list(refused.json()["error"]["details"]["errors"]) == ["3"]
    assert "end_time" in refused.json()["error"]["details"]["errors"]["3"]["fields"]
    assert (await client.get(EVENTS, headers=alice.headers)).json()["items"] == []
    items[3] = event_doc(title="fixed")
    created = await client.post(f"{EVENTS}/batch", json={"events": items}, headers=alice.headers)
    assert created.status_code == 201
    assert [e["title"] for e in created.json()["items"]] == ["e0", "e1", "e2", "fixed", "e4"]
    for bad in ({"events": []}, {"events": [event_doc()] * 501}, {}):
        response = await client.post(f"{EVENTS}/batch", json=bad, headers=alice.headers)
        assert response.status_code == 422


async def test_twenty_concurrent_writers_lose_nothing(client: httpx.AsyncClient) -> None:
    """20 clients patching one event at once: one version per accepted change, no lost update."""
    alice = await register(client)
    event = await create_event(client, alice)
    url = f"{EVENTS}/{event['id']}"

    async def add_key(i: int) -> httpx.Response:
        ops = [{"op": "add", "path": f"/metadata/k{i}", "value": i}]
        return await client.patch(url, json=ops, headers={**alice.headers, **PATCH_JSON})

    answers = await asyncio.gather(*(add_key(i) for i in range(20)))
    assert all(a.status_code == 200 for a in answers)
    assert sorted(a.json()["version"] for a in answers) == list(range(2, 22))
    final = (await client.get(url, headers=alice.headers)).json()
    assert final["version"] == 21
    assert final["metadata"] == {f"k{i}": i for i in range(20)}
    history = (await client.get(f"{url}/history?limit=200", headers=alice.headers)).json()
    assert [v["version"] for v in history["items"]] == list(range(21, 0, -1))


async def test_concurrent_puts_each_become_a_version(client: httpx.AsyncClient) -> None:
    """20 concurrent PUTs of different titles: 20 versions, the last one's title stands."""
    alice = await register(client)
    event = await create_event(client, alice)
    url = f"{EVENTS}/{event['id']}"
    answers = await asyncio.gather(
        *(client.put(url, json={"title": f"t{i}"}, headers=alice.headers) for i in range(20))
    )
    versions = {a.json()["version"]: a.json()["title"] for a in answers}
    assert sorted(versions) == list(range(2, 22))
    final = (await client.get(url, headers=alice.headers)).json()
    assert final["title"] == versions[21]


async def test_conflicts_and_reject_on_conflict(client: httpx.AsyncClient) -> None:
    """Overlapping occurrences are listed as pairs; on_conflict=reject refuses a clash with 409."""
    alice = await register(client)
    a = await create_event(
        client,
        alice,
        title="A",
        start_time="2026-03-02T09:00:00Z",
        end_time="2026-03-02T10:00:00Z",
        timezone="UTC",
    )
    b = await create_event(
        client,
        alice,
        title="B",
        start_time="2026-03-02T09:30:00Z",
        end_time="2026-03-02T11:00:00Z",
        timezone="UTC",
    )
    await create_event(
        client,
        alice,
        title="C",
        start_time="2026-03-02T11:00:00Z",
        end_time="2026-03-02T12:00:00Z",
        timezone="UTC",
    )
    window = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-08T00:00:00Z"}
    pairs = (await client.get(f"{EVENTS}/conflicts", params=window, headers=alice.headers)).json()[
        "items"
    ]
    assert [(p["a"]["event_id"], p["b"]["event_id"]) for p in pairs] == [(a["id"], b["id"])]
    assert pairs[0]["a"] == {
        "event_id": a["id"],
        "title": "A",
        "start": "2026-03-02T09:00:00Z",
        "end": "2026-03-02T10:00:00Z",
    }
    missing = await client.get(f"{EVENTS}/conflicts", headers=alice.headers)
    assert (missing.status_code, error_code(missing)) == (422, "validation_error")
    clash = await client.post(
        f"{EVENTS}?on_conflict=reject",
        json=event_doc(start_time="2026-03-02T09:45:00Z", end_time="2026-03-02T09:50:00Z"),
        headers=alice.headers,
    )
    assert (clash.status_code, error_code(clash)) == (409, "schedule_conflict")
    assert {c["event_id"] for c in clash.json()["error"]["details"]["conflicts"]} == {
        a["id"],
        b["id"],
    }
    fine = await client.post(
        f"{EVENTS}?on_conflict=reject",
        json=event_doc(start_time="2026-03-02T12:00:00Z", end_time="2026-03-02T13:00:00Z"),
        headers=alice.headers,
    )
    assert fine.status_code == 201
    moved = await client.put(
        f"{EVENTS}/{fine.json()['id']}?on_conflict=reject",
        json={"start_time": "2026-03-02T11:30:00Z"},
        headers=alice.headers,
    )
    assert (moved.status_code, error_code(moved)) == (409, "schedule_conflict")
