"""The calendar window (occurrence bounds, lazy expansion, conflicts), on SQLite and PostgreSQL.

Random calendars are compared with a slow reference in
tests/storage/test_window_properties.py; these are the named cases.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support import (
    Account,
    RunningServer,
    create_event,
    create_mornings,
    event_doc,
    register,
    share,
)
from tests.ws_client import connect

pytestmark = pytest.mark.timeout(120)

EVENTS = "/api/v1/events"
PATCH_JSON = {"Content-Type": "application/json-patch+json"}
LATE_2031 = {"start": "2031-06-01T00:00:00Z", "end": "2031-07-01T00:00:00Z"}


def code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_bounds_follow_every_kind_of_write(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    """PUT, PATCH, a WebSocket patch and a rollback each move the event in or out of a
    far window: the stored bounds change in the same transaction as the document."""
    alice = await register(client)
    event = await create_event(client, alice, recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"])
    url = f"{EVENTS}/{event['id']}"

    async def in_2031() -> bool:
        body = (await client.get(EVENTS, params=LATE_2031, headers=alice.headers)).json()
        return [e["id"] for e in body["items"]] == [event["id"]]

    assert not await in_2031()
    put = await client.put(url, json={"recurrence": ["RRULE:FREQ=WEEKLY"]}, headers=alice.headers)
    assert put.status_code == 200 and await in_2031()
    ops = [{"op": "replace", "path": "/recurrence", "value": ["RRULE:FREQ=DAILY;COUNT=2"]}]
    patched = await client.patch(url, json=ops, headers={**alice.headers, **PATCH_JSON})
    assert patched.status_code == 200 and not await in_2031()
    socket = await connect(server.ws_url, alice.access_token)
    try:
        await socket.join(event["id"])
        ops = [{"op": "replace", "path": "/recurrence", "value": ["RRULE:FREQ=MONTHLY"]}]
        assert (await socket.submit(event["id"], ops))["type"] == "ack"
    finally:
        await socket.close()
    assert await in_2031()
    rollback = await client.post(f"{url}/rollback/1", headers=alice.headers)
    assert rollback.status_code == 200 and not await in_2031()


async def test_bad_windows_and_cursors_are_refused(client: httpx.AsyncClient) -> None:
    """End before start, a window over ten years, limit 0 or 201 and a cursor from another
    query are 422 validation_error, on plain and expanded listings and conflicts."""
    alice = await register(client)
    for day in (1, 2, 3):
        await create_event(
            client,
            alice,
            start_time=f"2026-03-0{day}T08:00:00Z",
            end_time=f"2026-03-0{day}T09:00:00Z",
        )
    march = {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
    century = {"start": "2026-01-01T00:00:00Z", "end": "2126-01-01T00:00:00Z"}
    backwards = {"start": march["end"], "end": march["start"]}
    for path in (EVENTS, f"{EVENTS}/conflicts"):
        for bad in (century, backwards):
            answer = await client.get(path, params=bad, headers=alice.headers)
            assert (answer.status_code, code(answer)) == (422, "validation_error"), (path, bad)
            assert "end" in answer.json()["error"]["details"]["fields"]
    for limit in ("0", "201"):
        answer = await client.get(EVENTS, params={**march, "limit": limit}, headers=alice.headers)
        assert (answer.status_code, code(answer)) == (422, "validation_error")
    expand = {**march, "expand": "true", "limit": "1"}
    plain_cursor = (
        await client.get(EVENTS, params={**march, "limit": "1"}, headers=alice.headers)
    ).json()["next_cursor"]
    expand_cursor = (await client.get(EVENTS, params=expand, headers=alice.headers)).json()[
        "next_cursor"
    ]
    assert plain_cursor and expand_cursor
    april = {"start": "2026-03-02T00:00:00Z", "end": "2026-05-01T00:00:00Z"}
    for params in (
        {**expand, "cursor": plain_cursor},  # a plain listing's cursor
        {**march, "limit": "1", "cursor": expand_cursor},  # an expanded listing's
        {**expand, **april, "cursor": expand_cursor},  # another window's
        {**march, "limit": "1", "q": "x", "cursor": plain_cursor},  # another filter's
    ):
        answer = await client.get(EVENTS, params=params, headers=alice.headers)
        assert (answer.status_code, code(answer)) == (422, "validation_error"), params
        assert "cursor" in answer.json()["error"]["details"]["fields"]
    mallory = await register(client)
    stolen = await client.get(
        EVENTS, params={**expand, "cursor": expand_cursor}, headers=mallory.headers
    )
    assert stolen.status_code == 422  # a cursor is bound to its caller too


def _cursor_parts(cursor: str) -> list[str]:
    """A listing cursor's parts: base64url("<fingerprint>:<number>:...")."""
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")


def _forged(cursor: str, *values: int) -> str:
    """`cursor` with its numbers replaced: its fingerprint is an unkeyed hash of the
    query, which a client can recompute, so only the numbers are the server's to check."""
    forged = ":".join([_cursor_parts(cursor)[0], *map(str, values)])
    return base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")


async def test_cursors_with_numbers_out_of_range_are_refused(client: httpx.AsyncClient) -> None:
    """A cursor with the right fingerprint but an id outside 0..2147483647 or a time that
    is none is 422 validation_error naming `cursor`, never a 500 (an id beyond 2^63 did
    not bind on SQLite) nor a page."""
    alice = await register(client)
    await create_mornings(client, alice, ["2026-03-02", "2026-03-03"])
    march = {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z", "limit": "1"}
    expand = {**march, "expand": "true"}
    plain = (await client.get(EVENTS, params=march, headers=alice.headers)).json()
    expanded = (await client.get(EVENTS, params=expand, headers=alice.headers)).json()
    start, event_id, original = map(int, _cursor_parts(expanded["next_cursor"])[1:])
    assert _forged(plain["next_cursor"], plain["items"][0]["id"]) == plain["next_cursor"]
    assert _forged(expanded["next_cursor"], start, event_id, original) == expanded["next_cursor"]
    not_ids = (2**63, -(2**63) - 1, 10**30, 2**31, -1)
    cases = [(march, _forged(plain["next_cursor"], n)) for n in not_ids]
    cases += [(expand, _forged(expanded["next_cursor"], start, n, original)) for n in not_ids]
    far = (2**63, -(2**63) - 1, 10**30)  # microseconds since 1970, past any time
    cases += [(expand, _forged(expanded["next_cursor"], n, event_id, original)) for n in far]
    cases += [(expand, _forged(expanded["next_cursor"], start, event_id, n)) for n in far]
    for listing, cursor in cases:
        params = {**listing, "cursor": cursor}
        answer = await client.get(EVENTS, params=params, headers=alice.headers)
        assert (answer.status_code, code(answer)) == (422, "validation_error"), params
        assert "cursor" in answer.json()["error"]["details"]["fields"]


async def test_a_page_reads_past_series_that_skip_the_window(client: httpx.AsyncClient) -> None:
    """Series whose bounds span the window but with no occurrence in it come first in
    id order: the page reads on past them (on PostgreSQL, a second statement, in one
    snapshot with the first) until it is full, and its cursor goes on from there."""
    alice = await register(client)
    for _ in range(4):  # the 1st of each month: nothing between the 10th and the 20th
        await create_event(
            client,
            alice,
            start_time="2026-01-01T09:00:00Z",
            end_time="2026-01-01T10:00:00Z",
            recurrence=["RRULE:FREQ=MONTHLY"],
        )
    singles = await create_mornings(client, alice, ["2026-06-12", "2026-06-14", "2026-06-16"])
    window = {"start": "2026-06-10T00:00:00Z", "end": "2026-06-20T00:00:00Z", "limit": "2"}
    first = (await client.get(EVENTS, params=window, headers=alice.headers)).json()
    assert [e["id"] for e in first["items"]] == [e["id"] for e in singles[:2]]
    params = {**window, "cursor": first["next_cursor"]}
    second = (await client.get(EVENTS, params=params, headers=alice.headers)).json()
    assert [e["id"] for e in second["items"]] == [singles[2]["id"]]
    assert second["next_cursor"] is None


async def test_expanded_pages_walk_a_ten_year_window(client: httpx.AsyncClient) -> None:
    """An open-ended daily series that began five years before pages through a ten-year
    window (3,650 occurrences) without gap or repeat; another user sees none of it."""
    alice, bob = await register(client), await register(client)
    daily = await create_event(
        client,
        alice,
        start_time="2021-01-04T09:00:00Z",
        end_time="2021-01-04T09:30:00Z",
        timezone="UTC",
        recurrence=["RRULE:FREQ=DAILY"],
    )
    window = {"start": "2026-01-01T00:00:00Z", "end": "2035-12-30T00:00:00Z", "expand": "true"}
    starts, cursor = [], None
    while True:
        params = {**window, "limit": "200", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(EVENTS, params=params, headers=alice.headers)).json()
        starts += [o["occurrence_start"] for o in body["items"]]
        assert {o["id"] for o in body["items"]} == {daily["id"]}
        cursor = body["next_cursor"]
        if cursor is None:
            break
    first = datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert starts == [_z(first + timedelta(days=n)) for n in range(len(starts))]
    assert starts[-1] == "2035-12-29T09:00:00Z"
    assert (await client.get(EVENTS, params=window, headers=bob.headers)).json()["items"] == []


async def test_conflicts_cover_the_whole_series_and_the_horizon(client: httpx.AsyncClient) -> None:
    """on_conflict=reject compares a bounded series whole (its fifth yearly occurrence, past
    the horizon, clashes) and one without end only up to CONFLICT_HORIZON (730 days) past now."""
    alice = await register(client)
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    later = now + timedelta(days=2 * 365 + 30)  # past the horizon, within a bounded series
    target = await create_event(
        client,
        alice,
        title="far away",
        start_time=_z(later + timedelta(hours=9)),
        end_time=_z(later + timedelta(hours=10)),
        timezone="UTC",
    )
    begun = later - timedelta(days=4 * 365)  # 700 days ago: its fifth occurrence meets the target
    yearly = event_doc(
        start_time=_z(begun + timedelta(hours=9, minutes=30)),
        end_time=_z(begun + timedelta(hours=9, minutes=45)),
        timezone="UTC",
    )
    # Every 365 days, so that leap years do not move it off the target's day.
    bounded = {**yearly, "recurrence": ["RRULE:FREQ=DAILY;INTERVAL=365;COUNT=5"]}
    clash = await client.post(f"{EVENTS}?on_conflict=reject", json=bounded, headers=alice.headers)
    assert (clash.status_code, code(clash)) == (409, "schedule_conflict")
    assert [c["event_id"] for c in clash.json()["error"]["details"]["conflicts"]] == [target["id"]]
    endless = {**yearly, "recurrence": ["RRULE:FREQ=DAILY;INTERVAL=365"]}
    fine = await client.post(f"{EVENTS}?on_conflict=reject", json=endless, headers=alice.headers)
    assert fine.status_code == 201, fine.text
    conflicts = await client.get(
        f"{EVENTS}/conflicts",
        params={"start": _z(later), "end": _z(later + timedelta(days=1))},
        headers=alice.headers,
    )
    assert [(p["a"]["event_id"], p["b"]["event_id"]) for p in conflicts.json()["items"]] == [
        (target["id"], fine.json()["id"])
    ]


async def test_conflicts_in_a_window_too_full_to_answer(client: httpx.AsyncClient) -> None:
    """/events/conflicts answers in one piece, so past 10,000 occurrences in the window it
    asks for a narrower one (422), while the expanded listing of that window still pages."""
    alice = await register(client)
    await create_event(
        client,
        alice,
        start_time="2026-01-01T00:00:00Z",
        end_time="2026-01-01T00:30:00Z",
        timezone="UTC",
        recurrence=["RRULE:FREQ=HOURLY"],
    )
    window = {"start": "2026-01-01T00:00:00Z", "end": "2027-06-01T00:00:00Z"}
    full = await client.get(f"{EVENTS}/conflicts", params=window, headers=alice.headers)
    assert (full.status_code, code(full)) == (422, "validation_error")
    page = await client.get(
        EVENTS, params={**window, "expand": "true", "limit": "200"}, headers=alice.headers
    )
    assert page.status_code == 200 and len(page.json()["items"]) == 200


async def test_expanded_pages_before_1970(client: httpx.AsyncClient) -> None:
    """Occurrences before 1970 (negative timestamps) page like any others."""
    alice = await register(client)
    weekly = await create_event(
        client,
        alice,
        start_time="1969-12-01T09:00:00Z",
        end_time="1969-12-01T10:00:00Z",
        timezone="UTC",
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=8"],
    )
    window = {"start": "1969-11-01T00:00:00Z", "end": "1970-02-01T00:00:00Z", "expand": "true"}
    starts, cursor = [], None
    while True:
        params = {**window, "limit": "3", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(EVENTS, params=params, headers=alice.headers)).json()
        starts += [(o["id"], o["occurrence_start"]) for o in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    first = datetime(1969, 12, 1, 9, tzinfo=UTC)
    assert starts == [(weekly["id"], _z(first + timedelta(weeks=n))) for n in range(8)]


async def test_expanded_pages_of_one_keep_occurrences_moved_to_one_start(
    client: httpx.AsyncClient,
) -> None:
    """Two occurrences of a series moved onto a third's start, beside another event starting
    then too: paging one at a time lists every occurrence exactly once, in (start, event,
    original start) order (a cursor of start and event alone skipped the later two)."""
    alice = await register(client)
    daily = await create_event(
        client,
        alice,
        start_time="2026-05-04T09:00:00Z",
        end_time="2026-05-04T09:30:00Z",
        timezone="UTC",
        recurrence=["RRULE:FREQ=DAILY;COUNT=5"],
    )
    crowded = "2026-05-06T09:00:00Z"
    for original in ("2026-05-05T09:00:00Z", "2026-05-07T09:00:00Z"):
        moved = await client.put(
            f"{EVENTS}/{daily['id']}/occurrences/{original}",
            json={"start_time": crowded, "end_time": "2026-05-06T09:30:00Z"},
            headers=alice.headers,
        )
        assert moved.status_code == 200, moved.text
    other = await create_event(
        client, alice, start_time=crowded, end_time="2026-05-06T10:00:00Z", timezone="UTC"
    )
    window = {"start": "2026-05-01T00:00:00Z", "end": "2026-06-01T00:00:00Z", "expand": "true"}
    listed, cursor = [], None
    while True:
        params = {**window, "limit": "1", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(EVENTS, params=params, headers=alice.headers)).json()
        listed += [(o["id"], o["occurrence_id"], o["occurrence_start"]) for o in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    series = daily["id"]
    assert listed == [
        (series, "2026-05-04T09:00:00Z", "2026-05-04T09:00:00Z"),
        (series, "2026-05-05T09:00:00Z", crowded),
        (series, "2026-05-06T09:00:00Z", crowded),
        (series, "2026-05-07T09:00:00Z", crowded),
        (other["id"], None, crowded),
        (series, "2026-05-08T09:00:00Z", "2026-05-08T09:00:00Z"),
    ]


async def test_a_window_holds_own_and_shared_events_with_the_callers_role(
    client: httpx.AsyncClient,
) -> None:
    """The expanded listing and the conflicts read the caller's own events and those
    shared with them (two parts of one statement): each with the caller's role, the
    role filter on both, nobody else's events, and an ownership transfer followed."""
    alice, bob, carol, dave = [await register(client) for _ in range(4)]
    mine = await create_event(client, alice, title="Mine", **_day("2026-05-04"))
    bobs = await create_event(
        client, bob, title="Bob's weekly", recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"],
        timezone="UTC", **_day("2026-05-04"),
    )  # fmt: skip
    carols = await create_event(client, carol, title="Carol's", **_day("2026-05-05"))
    await create_event(client, dave, title="Dave's", **_day("2026-05-04"))  # not shared
    await share(client, bob, bobs["id"], alice, "editor")
    await share(client, carol, carols["id"], alice, "viewer")
    may = {"start": "2026-05-01T00:00:00Z", "end": "2026-06-01T00:00:00Z", "expand": "true"}

    async def roles(account: Account, **params: str) -> list[tuple[str, str]]:
        response = await client.get(EVENTS, params={**may, **params}, headers=account.headers)
        assert response.status_code == 200, response.text
        return [(o["title"], o["role"]) for o in response.json()["items"]]

    assert await roles(alice) == [
        ("Mine", "owner"),
        ("Bob's weekly", "editor"),
        ("Carol's", "viewer"),
        ("Bob's weekly", "editor"),
        ("Bob's weekly", "editor"),
    ]
    assert await roles(alice, role="owner") == [("Mine", "owner")]
    assert await roles(alice, role="viewer") == [("Carol's", "viewer")]
    window = {"start": may["start"], "end": may["end"]}
    conflicts = await client.get(f"{EVENTS}/conflicts", params=window, headers=alice.headers)
    assert [(p["a"]["title"], p["b"]["title"]) for p in conflicts.json()["items"]] == [
        ("Mine", "Bob's weekly")
    ]

    async def refused(response: httpx.Response) -> set[int]:
        assert (response.status_code, code(response)) == (409, "schedule_conflict")
        return {c["event_id"] for c in response.json()["error"]["details"]["conflicts"]}

    # on_conflict=reject reads the same two parts: Dave's clash is not Alice's to see,
    # and an event shared with her is left out of its own check.
    clash = await client.post(
        f"{EVENTS}?on_conflict=reject",
        json=event_doc(start_time="2026-05-04T09:30:00Z", end_time="2026-05-04T09:45:00Z"),
        headers=alice.headers,
    )
    assert await refused(clash) == {mine["id"], bobs["id"]}
    renamed = await client.put(
        f"{EVENTS}/{bobs['id']}?on_conflict=reject",
        json={"title": "Bob's weekly, renamed"},
        headers=alice.headers,
    )
    assert await refused(renamed) == {mine["id"]}

    transfer = await client.put(
        f"{EVENTS}/{mine['id']}/permissions/{bob.id}",
        json={"role": "owner"},
        headers=alice.headers,
    )
    assert transfer.status_code == 200, transfer.text
    assert await roles(alice, role="editor") == [
        ("Mine", "editor"),
        ("Bob's weekly", "editor"),
        ("Bob's weekly", "editor"),
        ("Bob's weekly", "editor"),
    ]
    assert [title for title, role in await roles(bob) if role == "owner"] == [
        "Mine",
        "Bob's weekly",
        "Bob's weekly",
        "Bob's weekly",
    ]


def _day(day: str) -> dict[str, str]:
    """09:00-10:00 UTC on `day` (YYYY-MM-DD)."""
    return {"start_time": f"{day}T09:00:00Z", "end_time": f"{day}T10:00:00Z"}
