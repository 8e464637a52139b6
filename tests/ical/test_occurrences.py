"""One occurrence of a recurring event (PROTOCOL.md v1.1): overrides, the occurrence
routes, and expanded reads that find an occurrence where it now is. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from tests.support import Account, create_event, error_code, register, share

pytestmark = pytest.mark.timeout(120)

EVENTS = "/api/v1/events"
PATCH_JSON = {"Content-Type": "application/json-patch+json"}
# Mondays 09:00 Paris from 2 March 2026, ten times; 9 March is cancelled.
WEEKLY = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10", "EXDATE:20260309T080000Z"]
MARCH_16 = "2026-03-16T08:00:00Z"
MOVED = {"start_time": "2026-03-17T12:00:00Z", "end_time": "2026-03-17T13:00:00Z"}


def fields_of(response: httpx.Response) -> dict[str, str]:
    return response.json()["error"]["details"]["fields"]


async def weekly(client: httpx.AsyncClient, owner: Account, **fields: Any) -> dict[str, Any]:
    return await create_event(client, owner, recurrence=WEEKLY, **fields)


async def expanded(
    client: httpx.AsyncClient, who: Account, start: str, end: str
) -> list[dict[str, Any]]:
    response = await client.get(
        EVENTS, params={"expand": "true", "start": start, "end": end}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_moved_occurrence_is_found_where_it_now_is(client: httpx.AsyncClient) -> None:
    """An override moves and renames one occurrence in every expanded read, not the others."""
    alice = await register(client)
    event = await weekly(client, alice)
    override = {**MOVED, "title": "Design review (moved)"}
    patched = await client.patch(
        f"{EVENTS}/{event['id']}",
        json=[{"op": "add", "path": f"/overrides/{MARCH_16}", "value": override}],
        headers={**alice.headers, **PATCH_JSON},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["overrides"] == {MARCH_16: {"title": override["title"], **MOVED}}
    week = await expanded(client, alice, "2026-03-16T00:00:00Z", "2026-03-23T00:00:00Z")
    assert [
        (i["occurrence_id"], i["occurrence_start"], i["occurrence_end"], i["title"]) for i in week
    ] == [(MARCH_16, MOVED["start_time"], MOVED["end_time"], "Design review (moved)")]
    # Its old slot is empty; a neighbour keeps the series' title and its own id.
    assert await expanded(client, alice, "2026-03-16T07:00:00Z", "2026-03-16T10:00:00Z") == []
    later = await expanded(client, alice, "2026-03-23T00:00:00Z", "2026-03-24T00:00:00Z")
    assert [(i["occurrence_id"], i["title"]) for i in later] == [
        ("2026-03-23T08:00:00Z", "Design review")
    ]
    # Without expand, the window of the moved time alone matches the event.
    plain = await client.get(
        EVENTS,
        params={"start": "2026-03-17T12:30:00Z", "end": "2026-03-17T12:45:00Z"},
        headers=alice.headers,
    )
    assert [item["id"] for item in plain.json()["items"]] == [event["id"]]


async def test_a_single_event_lists_a_null_occurrence_id(client: httpx.AsyncClient) -> None:
    """expand=true gives a non-recurring event's item occurrence_id null."""
    alice = await register(client)
    await create_event(client, alice)
    items = await expanded(client, alice, "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z")
    assert [item["occurrence_id"] for item in items] == [None]


async def test_moved_past_the_series_end_is_still_found(client: httpx.AsyncClient) -> None:
    """An occurrence moved after the last one widens the event's span: a window there finds it."""
    alice = await register(client)
    event = await weekly(client, alice)
    last = "2026-05-04T07:00:00Z"  # the tenth Monday, in summer time
    far = {"start_time": "2026-06-01T07:00:00Z", "end_time": "2026-06-01T08:00:00Z"}
    response = await client.put(
        f"{EVENTS}/{event['id']}/occurrences/{last}", json=far, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    june = await expanded(client, alice, "2026-05-30T00:00:00Z", "2026-06-30T00:00:00Z")
    assert [(i["occurrence_id"], i["occurrence_start"]) for i in june] == [
        (last, far["start_time"])
    ]


async def test_occurrence_route_keeps_only_the_differences(client: httpx.AsyncClient) -> None:
    """PUT .../occurrences/{id} stores only fields that differ from the series, as one version."""
    alice = await register(client)
    event = await weekly(client, alice, location="Room 1")
    url = f"{EVENTS}/{event['id']}/occurrences/{MARCH_16}"
    moved = await client.put(
        url,
        json={"location": "Room 2", "title": "Design review", "start_time": MOVED["start_time"]},
        headers={**alice.headers, "If-Match": '"1"'},
    )
    assert moved.status_code == 422 and fields_of(moved) == {
        f"overrides/{MARCH_16}/end_time": "must be after start_time"
    }
    response = await client.put(
        url,
        json={"location": "Room 2", "title": "Design review", **MOVED},
        headers={**alice.headers, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 2 and response.headers["etag"] == '"2"'
    assert body["overrides"] == {MARCH_16: {"location": "Room 2", **MOVED}}
    stale = await client.put(
        url, json={"location": "Room 3"}, headers={**alice.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412 and error_code(stale) == "precondition_failed"
    # Setting it back to the series' own values (09:00 Paris is 08:00Z) removes the
    # override altogether.
    back = await client.put(
        url,
        json={
            "location": "Room 1",
            "start_time": "2026-03-16T09:00:00+01:00",
            "end_time": "2026-03-16T09:00:00Z",
        },
        headers=alice.headers,
    )
    assert back.status_code == 200, back.text
    assert back.json()["overrides"] == {} and back.json()["version"] == 3


async def test_cancel_adds_an_exdate_and_drops_the_override(client: httpx.AsyncClient) -> None:
    """DELETE .../occurrences/{id} is one version: an EXDATE line and the override removed."""
    alice = await register(client)
    event = await weekly(client, alice, overrides={MARCH_16: {"title": "Special"}})
    response = await client.delete(
        f"{EVENTS}/{event['id']}/occurrences/{MARCH_16}", headers=alice.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["recurrence"] == [*WEEKLY, "EXDATE:20260316T080000Z"]
    assert body["overrides"] == {} and body["version"] == 2
    history = await client.get(f"{EVENTS}/{event['id']}/history", headers=alice.headers)
    assert history.json()["items"][0]["ops"] == [
        {"op": "add", "path": "/recurrence/-", "value": "EXDATE:20260316T080000Z"},
        {"op": "remove", "path": f"/overrides/{MARCH_16}"},
    ]
    changelog = await client.get(
        f"{EVENTS}/{event['id']}/changelog", params={"order": "desc"}, headers=alice.headers
    )
    summary = changelog.json()["items"][0]["summary"]
    assert "cancelled the 16 March occurrence." in summary and "restored" not in summary
    again = await client.delete(
        f"{EVENTS}/{event['id']}/occurrences/{MARCH_16}", headers=alice.headers
    )
    assert again.status_code == 404 and error_code(again) == "not_found"


async def test_an_exdate_patched_in_takes_the_occurrences_override_with_it(
    client: httpx.AsyncClient,
) -> None:
    """Cancelling one occurrence is an EXDATE line however it is added: a JSON Patch that
    adds one drops that occurrence's override too, in the same version, and its stored
    ops say so. An override the patch's rule change orphans is still refused."""
    alice = await register(client)
    kept = "2026-03-23T08:00:00Z"
    overrides = {MARCH_16: {"title": "Special"}, kept: {"title": "Kept"}}
    event = await weekly(client, alice, overrides=overrides)
    url = f"{EVENTS}/{event['id']}"
    cancel = {"op": "add", "path": "/recurrence/-", "value": "EXDATE:20260316T080000Z"}
    patched = await client.patch(url, json=[cancel], headers={**alice.headers, **PATCH_JSON})
    assert patched.status_code == 200, patched.text
    assert patched.json()["overrides"] == {kept: {"title": "Kept"}}
    assert patched.json()["version"] == 2
    history = await client.get(f"{url}/history", headers=alice.headers)
    assert history.json()["items"][0]["ops"] == [
        cancel,
        {"op": "remove", "path": f"/overrides/{MARCH_16}"},
    ]
    shorter = {"op": "replace", "path": "/recurrence", "value": [WEEKLY[0].replace("10", "3")]}
    refused = await client.patch(url, json=[shorter], headers={**alice.headers, **PATCH_JSON})
    assert refused.status_code == 422 and error_code(refused) == "invalid_event"
    assert f"overrides/{kept}" in fields_of(refused)


async def test_occurrence_routes_refuse_who_and_what_they_must(client: httpx.AsyncClient) -> None:
    """404 for a stranger or a non-occurrence, 403 for a viewer; nothing is written."""
    alice, viewer, mallory = await register(client), await register(client), await register(client)
    event = await weekly(client, alice)
    await share(client, alice, event["id"], viewer, "viewer")
    base = f"{EVENTS}/{event['id']}/occurrences"
    for path in (
        f"{base}/2026-03-09T08:00:00Z",  # cancelled by the EXDATE
        f"{base}/2026-03-16T08:30:00Z",  # not produced by the rule
        f"{base}/2026-03-16T09:00:00+01:00",  # not written as the UTC id
        f"{base}/tomorrow",
    ):
        for method in ("PUT", "DELETE"):
            answer = await client.request(method, path, json={"title": "x"}, headers=alice.headers)
            assert answer.status_code == 404 and error_code(answer) == "not_found", (method, path)
    stranger = await client.put(f"{base}/{MARCH_16}", json={"title": "x"}, headers=mallory.headers)
    assert stranger.status_code == 404
    refused = await client.delete(f"{base}/{MARCH_16}", headers=viewer.headers)
    assert refused.status_code == 403 and error_code(refused) == "forbidden"
    single = await create_event(client, alice)
    answer = await client.put(
        f"{EVENTS}/{single['id']}/occurrences/2026-03-02T08:00:00Z",
        json={"title": "x"},
        headers=alice.headers,
    )
    assert answer.status_code == 404
    unknown = await client.put(f"{base}/{MARCH_16}", json={"colour": "red"}, headers=alice.headers)
    assert unknown.status_code == 422 and fields_of(unknown) == {"colour": "unknown field"}
    current = await client.get(f"{EVENTS}/{event['id']}", headers=alice.headers)
    assert current.json()["version"] == 1


async def test_bad_overrides_name_their_pointer(client: httpx.AsyncClient) -> None:
    """Each bad override is refused, keyed by its pointer; a patch leaves nothing behind."""
    alice = await register(client)
    event = await weekly(client, alice)
    url = f"{EVENTS}/{event['id']}"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"2026-03-09T08:00:00Z": {"title": "x"}}, "overrides/2026-03-09T08:00:00Z", "occurrence"),
        ({"2026-03-16T08:00:00.5Z": {}}, "overrides/2026-03-16T08:00:00.5Z", "occurrence"),
        ({MARCH_16: {"colour": "red"}}, f"overrides/{MARCH_16}/colour", "unknown field"),
        ({MARCH_16: {"title": ""}}, f"overrides/{MARCH_16}/title", "1-200"),
        ({MARCH_16: "moved"}, f"overrides/{MARCH_16}", "object"),
        (
            {MARCH_16: {"start_time": "2026-03-16T10:00:00Z", "end_time": "2026-03-16T09:00:00Z"}},
            f"overrides/{MARCH_16}/end_time",
            "after start_time",
        ),
    ]
    for overrides, pointer, reason in cases:
        answer = await client.patch(
            url,
            json=[{"op": "add", "path": "/overrides", "value": overrides}],
            headers={**alice.headers, **PATCH_JSON},
        )
        assert answer.status_code == 422 and error_code(answer) == "invalid_event", overrides
        assert reason in fields_of(answer)[pointer], fields_of(answer)
    single = await client.post(
        EVENTS,
        json={
            "title": "once",
            "start_time": "2026-03-02T08:00:00Z",
            "end_time": "2026-03-02T09:00:00Z",
            "overrides": {"2026-03-02T08:00:00Z": {"title": "x"}},
        },
        headers=alice.headers,
    )
    assert single.status_code == 422 and "non-recurring" in fields_of(single)["overrides"]
    assert (await client.get(url, headers=alice.headers)).json()["version"] == 1


async def test_an_occurrence_value_json_cannot_carry_is_invalid_event(
    client: httpx.AsyncClient,
) -> None:
    """A PUT body's value that JSON cannot carry (MessagePack extensions, the timestamp
    type included) is refused like any bad override: invalid_event keyed by its pointer,
    not as a patch the client never wrote; nothing is written."""
    alice = await register(client)
    event = await weekly(client, alice)
    url = f"{EVENTS}/{event['id']}/occurrences/{MARCH_16}"
    headers = {**alice.headers, "Content-Type": "application/msgpack"}
    for extension in (msgspec.msgpack.Ext(1, b"ab"), datetime(2026, 3, 16, 9, tzinfo=UTC)):
        for body in ({"title": extension}, {"metadata": {"k": [extension]}}):
            content = msgspec.msgpack.encode(body)
            answer = await client.put(url, content=content, headers=headers)
            assert answer.status_code == 422 and error_code(answer) == "invalid_event", answer.text
            [field] = body
            assert fields_of(answer) == {
                f"overrides/{MARCH_16}/{field}": "must hold only JSON values"
            }
    current = await client.get(f"{EVENTS}/{event['id']}", headers=alice.headers)
    assert current.json()["version"] == 1


async def test_at_most_a_thousand_overrides(client: httpx.AsyncClient) -> None:
    """1,000 overrides are taken; the 1,001st is refused and nothing is written."""
    alice = await register(client)
    event = await create_event(client, alice, recurrence=["RRULE:FREQ=DAILY"], timezone="UTC")
    first = datetime(2026, 3, 2, 8)
    days = [(first + timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ") for n in range(1001)]
    url = f"{EVENTS}/{event['id']}"
    ok = await client.put(
        url, json={"overrides": {d: {"title": d} for d in days[:1000]}}, headers=alice.headers
    )
    assert ok.status_code == 200, ok.text
    too_many = await client.put(
        url, json={"overrides": {d: {"title": d} for d in days}}, headers=alice.headers
    )
    assert too_many.status_code == 422 and "1000" in fields_of(too_many)["overrides"]
    assert (await client.get(url, headers=alice.headers)).json()["version"] == 2


async def test_a_rule_change_orphans_overrides(client: httpx.AsyncClient) -> None:
    """PUT drops overrides a rule change orphans (its ops say so); a PATCH must drop them itself."""
    alice = await register(client)
    event = await weekly(client, alice, overrides={MARCH_16: {"title": "Special"}})
    url = f"{EVENTS}/{event['id']}"
    shorter = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2"]
    patched = await client.patch(
        url,
        json=[{"op": "replace", "path": "/recurrence", "value": shorter}],
        headers={**alice.headers, **PATCH_JSON},
    )
    assert patched.status_code == 422 and error_code(patched) == "invalid_event"
    assert f"overrides/{MARCH_16}" in fields_of(patched)
    put = await client.put(url, json={"recurrence": shorter}, headers=alice.headers)
    assert put.status_code == 200, put.text
    assert put.json()["overrides"] == {}
    history = await client.get(f"{url}/history", headers=alice.headers)
    assert history.json()["items"][0]["ops"] == [
        {"op": "replace", "path": "/recurrence", "value": shorter},
        {"op": "remove", "path": f"/overrides/{MARCH_16}"},
    ]


async def test_history_diff_changelog_rollback_and_as_of(client: httpx.AsyncClient) -> None:
    """Override fields are diff leaves, make a changelog sentence, roll back and read as_of."""
    alice = await register(client)
    event = await weekly(client, alice)
    url = f"{EVENTS}/{event['id']}"
    moved = await client.put(f"{url}/occurrences/{MARCH_16}", json=MOVED, headers=alice.headers)
    assert moved.status_code == 200
    diff = (await client.get(f"{url}/diff/1/2", headers=alice.headers)).json()
    assert [(c["field"], c["path"], c["change_type"]) for c in diff["changes"]] == [
        ("overrides", f"/overrides/{MARCH_16}/end_time", "added"),
        ("overrides", f"/overrides/{MARCH_16}/start_time", "added"),
    ]
    changelog = await client.get(f"{url}/changelog", headers=alice.headers)
    assert changelog.json()["items"][1]["summary"] == (
        f"{alice.username} moved the 16 March occurrence to Tuesday 13:00."
    )
    at_one = await client.get(
        url, params={"as_of": moved.json()["created_at"]}, headers=alice.headers
    )
    assert at_one.json()["overrides"] == {}
    rolled = await client.post(f"{url}/rollback/1", headers=alice.headers)
    assert rolled.status_code == 200 and rolled.json()["overrides"] == {}
    week = await expanded(client, alice, "2026-03-16T00:00:00Z", "2026-03-17T00:00:00Z")
    assert [i["occurrence_start"] for i in week] == [MARCH_16]


async def test_conflicts_see_moved_occurrences(client: httpx.AsyncClient) -> None:
    """/events/conflicts and on_conflict=reject compare occurrences where they now are."""
    alice = await register(client)
    event = await weekly(client, alice)
    await client.put(
        f"{EVENTS}/{event['id']}/occurrences/{MARCH_16}",
        json={**MOVED, "title": "Moved review"},
        headers=alice.headers,
    )
    lunch = {
        "title": "Lunch",
        "start_time": "2026-03-17T12:30:00Z",
        "end_time": "2026-03-17T13:30:00Z",
    }
    refused = await client.post(
        EVENTS, params={"on_conflict": "reject"}, json=lunch, headers=alice.headers
    )
    assert refused.status_code == 409 and error_code(refused) == "schedule_conflict"
    assert refused.json()["error"]["details"]["conflicts"] == [
        {
            "event_id": event["id"],
            "title": "Moved review",
            "start": MOVED["start_time"],
            "end": MOVED["end_time"],
        }
    ]
    free = {**lunch, "start_time": "2026-03-16T08:00:00Z", "end_time": "2026-03-16T09:00:00Z"}
    assert (
        await client.post(
            EVENTS, params={"on_conflict": "reject"}, json=free, headers=alice.headers
        )
    ).status_code == 201
    await client.post(EVENTS, json=lunch, headers=alice.headers)
    pairs = await client.get(
        f"{EVENTS}/conflicts",
        params={"start": "2026-03-16T00:00:00Z", "end": "2026-03-18T00:00:00Z"},
        headers=alice.headers,
    )
    assert [(p["a"]["title"], p["b"]["title"]) for p in pairs.json()["items"]] == [
        ("Moved review", "Lunch")
    ]
