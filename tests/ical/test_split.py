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


# (recurrence, occurrence_id) in UTC from Monday 2 March 08:00: an RDATE between rule
# matches, the start with an RDATE before it, an RDATE before the start, and a later
# RDATE off the rule's days of a COUNT rule with an INTERVAL.
RDATE_SPLITS = [
    (["RRULE:FREQ=WEEKLY;COUNT=4", "RDATE:20260311T080000Z"], "2026-03-11T08:00:00Z"),
    (["RRULE:FREQ=WEEKLY;COUNT=4", "RDATE:20260225T080000Z"], "2026-03-02T08:00:00Z"),
    (
        ["RRULE:FREQ=WEEKLY;COUNT=3", "RDATE:20260220T080000Z,20260225T080000Z"],
        "2026-02-25T08:00:00Z",
    ),
    (["RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4", "RDATE:20260318T100000Z"], "2026-03-18T10:00:00Z"),
]
WINTER = {"expand": "true", "start": "2026-02-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}


@pytest.mark.parametrize(("recurrence", "occurrence_id"), RDATE_SPLITS)
async def test_split_keeps_every_occurrence_once_with_rdates(
    client: httpx.AsyncClient, recurrence: list[str], occurrence_id: str
) -> None:
    """Split at or around RDATEs: the two series hold the original's occurrences, each once,
    at its own time, the old one those before the occurrence."""
    alice = await register(client)
    event = await create_event(client, alice, timezone="UTC", recurrence=recurrence)

    async def occurrences() -> list[tuple[int, str, str]]:
        listed = await client.get(EVENTS, params=WINTER, headers=alice.headers)
        items = listed.json()["items"]
        return [(i["id"], i["occurrence_start"], i["occurrence_end"]) for i in items]

    original = [(start, end) for _, start, end in await occurrences()]
    response = await client.post(
        f"{EVENTS}/{event['id']}/split",
        json={"occurrence_id": occurrence_id},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text
    after = await occurrences()
    assert sorted((start, end) for _, start, end in after) == original
    assert all((start < occurrence_id) == (id_ == event["id"]) for id_, start, _ in after)


async def test_split_refuses_rules_it_would_shift(client: httpx.AsyncClient) -> None:
    """Where the new series' start would change a rule's implicit time (a Monday 08:00 rule
    beside an hourly one split at 14:00), the split is 422 naming occurrence_id, unwritten."""
    alice = await register(client)
    lines = ["RRULE:FREQ=DAILY;BYHOUR=8,14;COUNT=6", "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3"]
    event = await create_event(client, alice, timezone="UTC", recurrence=lines)
    answer = await client.post(
        f"{EVENTS}/{event['id']}/split",
        json={"occurrence_id": "2026-03-02T14:00:00Z"},
        headers=alice.headers,
    )
    assert answer.status_code == 422 and error_code(answer) == "validation_error"
    assert "occurrence_id" in answer.json()["error"]["details"]["fields"]
    mine = await client.get(EVENTS, headers=alice.headers)
    assert [(i["id"], i["version"]) for i in mine.json()["items"]] == [(event["id"], 1)]
