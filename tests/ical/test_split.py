"""POST /events/{id}/split, "this and following" (PROTOCOL.md v1.1), on both databases."""

from __future__ import annotations

import httpx
import pytest

from tests.support import RunningServer, create_event, error_code, register, share
from tests.ws_client import Sockets, is_type

pytestmark = pytest.mark.timeout(120)

EVENTS = "/api/v1/events"
WEEKLY = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10", "EXDATE:20260309T080000Z,20260330T070000Z"]
OVERRIDES = {"2026-03-16T08:00:00Z": {"title": "early"}, "2026-04-06T07:00:00Z": {"title": "late"}}
SPRING = {"expand": "true", "start": "2026-03-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}


async def test_split_ends_the_series_and_starts_a_new_one(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """An editor's split: same occurrences overall, later ones retitled, new series owned by
    the owner and shared alike; joined clients get the patch, collaborators `access`."""
    alice, bob, vera = await register(client), await register(client), await register(client)
    event = await create_event(client, alice, recurrence=WEEKLY, overrides=OVERRIDES)
    await share(client, alice, event["id"], bob, "editor")
    await share(client, alice, event["id"], vera, "viewer")
    listed = await client.get(EVENTS, params=SPRING, headers=alice.headers)
    before_split = [i["occurrence_start"] for i in listed.json()["items"]]
    watcher = await sockets.joined(server.ws_url, vera.access_token, event["id"])

    response = await client.post(
        f"{EVENTS}/{event['id']}/split",
        json={"occurrence_id": "2026-03-23T08:00:00Z", "changes": {"title": "New series"}},
        headers=bob.headers,
    )
    assert response.status_code == 201, response.text
    before, after = response.json()["before"], response.json()["after"]
    assert before["recurrence"] == [
        "RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260323T075959Z",
        "EXDATE:20260309T080000Z",
    ]
    assert before["overrides"] == {"2026-03-16T08:00:00Z": {"title": "early"}}
    assert before["version"] == 2 and before["role"] == "editor"
    assert after["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=7", "EXDATE:20260330T070000Z"]
    assert after["overrides"] == {"2026-04-06T07:00:00Z": {"title": "late"}}
    assert (after["start_time"], after["title"]) == ("2026-03-23T08:00:00Z", "New series")
    assert (after["owner_id"], after["version"], after["role"]) == (alice.id, 1, "editor")
    assert after["uid"] != before["uid"]

    patch = await watcher.recv_until(is_type("patch", event["id"]))
    assert patch["version"] == 2
    access = await watcher.recv_until(is_type("access", after["id"]))
    assert access["role"] == "viewer"
    permissions = await client.get(f"{EVENTS}/{after['id']}/permissions", headers=vera.headers)
    assert [(p["user_id"], p["role"]) for p in permissions.json()["items"]] == [
        (alice.id, "owner"),
        (bob.id, "editor"),
        (vera.id, "viewer"),
    ]
    trail = await client.get(f"{EVENTS}/{event['id']}/audit", headers=alice.headers)
    assert [r["action"] for r in trail.json()["items"]][-2:] == ["event_update", "event_split"]
    listed = await client.get(EVENTS, params=SPRING, headers=alice.headers)
    items = listed.json()["items"]
    assert [i["occurrence_start"] for i in items] == before_split
    assert [i["title"] for i in items] == [
        "Design review",
        "early",
        "New series",
        "late",
        "New series",
        "New series",
        "New series",
        "New series",
    ]


async def test_split_refuses_without_writing(client: httpx.AsyncClient) -> None:
    """First occurrence or a non-occurrence is 422, a viewer 403, a stranger 404: nothing moves."""
    alice, vera, mallory = await register(client), await register(client), await register(client)
    event = await create_event(client, alice, recurrence=WEEKLY)
    await share(client, alice, event["id"], vera, "viewer")
    url = f"{EVENTS}/{event['id']}/split"
    for occurrence_id in ("2026-03-02T08:00:00Z", "2026-03-09T08:00:00Z", "2026-03-17T08:00:00Z"):
        answer = await client.post(
            url, json={"occurrence_id": occurrence_id}, headers=alice.headers
        )
        assert answer.status_code == 422 and error_code(answer) == "validation_error", occurrence_id
        assert "occurrence_id" in answer.json()["error"]["details"]["fields"]
    bad_changes = await client.post(
        url,
        json={"occurrence_id": "2026-03-23T08:00:00Z", "changes": {"title": ""}},
        headers=alice.headers,
    )
    assert bad_changes.status_code == 422 and error_code(bad_changes) == "validation_error"
    split = {"occurrence_id": "2026-03-23T08:00:00Z"}
    viewer = await client.post(url, json=split, headers=vera.headers)
    assert viewer.status_code == 403 and error_code(viewer) == "forbidden"
    stranger = await client.post(url, json=split, headers=mallory.headers)
    assert stranger.status_code == 404 and error_code(stranger) == "not_found"
    stale = await client.post(url, json=split, headers={**alice.headers, "If-Match": '"7"'})
    assert stale.status_code == 412
    single = await create_event(client, alice)
    answer = await client.post(
        f"{EVENTS}/{single['id']}/split",
        json={"occurrence_id": single["start_time"]},
        headers=alice.headers,
    )
    assert answer.status_code == 422
    mine = await client.get(EVENTS, headers=alice.headers)
    assert [(i["id"], i["version"]) for i in mine.json()["items"]] == [
        (event["id"], 1),
        (single["id"], 1),
    ]
