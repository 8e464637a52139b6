"""Reading events over REST (PROTOCOL.md, Events): listing by window, search, role and
pages, occurrences, and a past version, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.support import Account, create_event, create_mornings, error_code, register, share

pytestmark = pytest.mark.timeout(120)

EVENTS = "/api/v1/events"


async def test_list_window_search_role_and_pages(client: httpx.AsyncClient) -> None:
    """Listing filters by window (recurring included), text and role, and pages by cursor."""
    alice, bob = await register(client), await register(client)
    early = await create_event(
        client,
        alice,
        title="Early",
        start_time="2026-01-05T09:00:00Z",
        end_time="2026-01-05T10:00:00Z",
    )
    weekly = await create_event(
        client,
        alice,
        title="Weekly sync",
        start_time="2026-01-06T09:00:00Z",
        end_time="2026-01-06T09:30:00Z",
        recurrence=["RRULE:FREQ=WEEKLY"],
        timezone="UTC",
    )
    shared = await create_event(
        client,
        bob,
        title="Bob's party",
        location="Garden",
        start_time="2026-03-10T18:00:00Z",
        end_time="2026-03-10T22:00:00Z",
    )
    await share(client, bob, shared["id"], alice, "viewer")

    async def ids(**params: str) -> list[int]:
        body = (await client.get(EVENTS, params=params, headers=alice.headers)).json()
        return [e["id"] for e in body["items"]]

    assert await ids() == [early["id"], weekly["id"], shared["id"]]
    march = {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
    assert await ids(**march) == [weekly["id"], shared["id"]]
    assert await ids(q="garden") == [shared["id"]]
    assert await ids(q="SYNC") == [weekly["id"]]
    assert await ids(role="viewer") == [shared["id"]]
    assert await ids(role="owner") == [early["id"], weekly["id"]]
    expanded = (
        await client.get(EVENTS, params={**march, "expand": "true"}, headers=alice.headers)
    ).json()["items"]
    weekly_starts = [o["occurrence_start"] for o in expanded if o["id"] == weekly["id"]]
    assert weekly_starts == [f"2026-03-{d:02d}T09:00:00Z" for d in (3, 10, 17, 24, 31)]
    assert [o["occurrence_start"] for o in expanded] == sorted(
        o["occurrence_start"] for o in expanded
    )
    seen, cursor = [], None
    while True:
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(EVENTS, params=params, headers=alice.headers)).json()
        seen += [e["id"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [early["id"], weekly["id"], shared["id"]]
    for bad in (
        {"limit": "0"},
        {"limit": "201"},
        {"cursor": "garbage"},
        {"start": "yesterday"},
        {"role": "boss"},
        {"expand": "true"},
    ):
        response = await client.get(EVENTS, params=bad, headers=alice.headers)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), bad


async def test_start_or_end_alone_bounds_the_listing(client: httpx.AsyncClient) -> None:
    """`start` alone lists the events with an occurrence ending after it, `end` alone
    those with one starting before it, recurring ones checked occurrence by occurrence
    (an occurrence moved away leaves its series' stored span behind); `expand=true`
    needs both (422 naming expand)."""
    alice = await register(client)
    mornings = await create_mornings(client, alice, ["2026-04-01", "2026-05-03", "2026-06-01"])
    april, may_3, june = (e["id"] for e in mornings)
    weekly = await _create_utc_series(client, alice, "2026-03-02", "RRULE:FREQ=WEEKLY;COUNT=3")
    # The first (2 March) and the last (16 March) occurrences move into the middle week.
    for original, day in (("2026-03-02", "2026-03-10"), ("2026-03-16", "2026-03-11")):
        moved = await client.put(
            f"{EVENTS}/{weekly}/occurrences/{original}T09:00:00Z",
            json={"start_time": f"{day}T09:00:00Z", "end_time": f"{day}T10:00:00Z"},
            headers=alice.headers,
        )
        assert moved.status_code == 200, moved.text
    endless = await _create_utc_series(client, alice, "2026-02-02", "RRULE:FREQ=MONTHLY")

    async def ids(**params: str) -> list[int]:
        response = await client.get(EVENTS, params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["items"]]

    assert await ids(start="2026-05-03T09:30:00Z") == [may_3, june, endless]
    assert await ids(start="2026-03-12T00:00:00Z") == [april, may_3, june, endless]
    assert await ids(start="2026-03-11T09:30:00Z") == [april, may_3, june, weekly, endless]
    assert await ids(end="2026-05-03T09:00:00Z") == [april, weekly, endless]
    assert await ids(end="2026-03-05T00:00:00Z") == [endless]
    assert await ids(end="2026-03-10T09:30:00Z") == [weekly, endless]
    assert await ids(end="2026-02-02T09:00:00Z") == []
    for bound in ({"start": "2026-03-01T00:00:00Z"}, {"end": "2026-04-01T00:00:00Z"}):
        response = await client.get(
            EVENTS, params={**bound, "expand": "true"}, headers=alice.headers
        )
        assert (response.status_code, error_code(response)) == (422, "validation_error")
        assert "expand" in response.json()["error"]["details"]["fields"]


async def _create_utc_series(
    client: httpx.AsyncClient, account: Account, day: str, rule: str
) -> int:
    """A recurring event at 09:00-10:00 UTC from `day` (YYYY-MM-DD); answers its id."""
    event = await create_event(
        client,
        account,
        start_time=f"{day}T09:00:00Z",
        end_time=f"{day}T10:00:00Z",
        timezone="UTC",
        recurrence=[rule],
    )
    return int(event["id"])


async def test_pages_do_not_skip_or_repeat_while_events_change(client: httpx.AsyncClient) -> None:
    """Paging through while events are renamed and created yields each old event once."""
    alice = await register(client)
    created = [await create_event(client, alice, title=f"e{i}") for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(EVENTS, params=params, headers=alice.headers)).json()
        seen += [e["id"] for e in body["items"]]
        await client.put(
            f"{EVENTS}/{created[0]['id']}",
            json={"title": f"moved {len(seen)}"},
            headers=alice.headers,
        )
        await create_event(client, alice, title="new")
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert {e["id"] for e in created} <= set(seen)


async def test_exdate_hides_an_occurrence_from_the_window(client: httpx.AsyncClient) -> None:
    """A window that only holds an excluded occurrence does not list the event."""
    alice = await register(client)
    await create_event(
        client, alice, recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10", "EXDATE:20260309T080000Z"]
    )
    params = {"start": "2026-03-09T00:00:00Z", "end": "2026-03-10T00:00:00Z"}
    assert (await client.get(EVENTS, params=params, headers=alice.headers)).json()["items"] == []
    params = {"start": "2026-03-30T00:00:00Z", "end": "2026-03-31T00:00:00Z", "expand": "true"}
    items = (await client.get(EVENTS, params=params, headers=alice.headers)).json()["items"]
    # Paris moved to summer time on 29 March: 09:00 local is now 07:00Z.
    assert [i["occurrence_start"] for i in items] == ["2026-03-30T07:00:00Z"]


async def test_as_of_answers_the_document_then(client: httpx.AsyncClient) -> None:
    """GET ?as_of answers the document and version that stood at that time."""
    alice = await register(client)
    event = await create_event(client, alice, title="First")
    url = f"{EVENTS}/{event['id']}"
    v1_time = event["updated_at"]
    await client.put(url, json={"title": "Second"}, headers=alice.headers)
    then = await client.get(url, params={"as_of": v1_time}, headers=alice.headers)
    assert then.status_code == 200
    assert (then.json()["title"], then.json()["version"]) == ("First", 1)
    before = await client.get(url, params={"as_of": "2000-01-01T00:00:00Z"}, headers=alice.headers)
    assert before.status_code == 404
    now = await client.get(url, params={"as_of": "2100-01-01T00:00:00Z"}, headers=alice.headers)
    assert now.json()["title"] == "Second"
