"""The calendar window against a slow reference, on random calendars (hypothesis, fixed seed).

Every answer of the fast path (indexed occurrence bounds, expansion that starts at
the window, lazily merged pages, the conflict sweep) must equal what a full walk of
each rule from its DTSTART gives: dateutil's rrulestr, walked in the event's zone,
with RFC 5545's rules applied by hand here (DTSTART is the first occurrence, EXDATE
removes, an occurrence keeps the event's local clock length). Through HTTP, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import weakref
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Account, register

pytestmark = pytest.mark.timeout(180)

EVENTS = "/api/v1/events"
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
EARLIEST = datetime(2024, 1, 1)
HORIZON = timedelta(days=730)  # the server's default CONFLICT_HORIZON
Span = tuple[datetime, datetime]


@st.composite
def rules(draw: st.DrawFn) -> str | None:
    """An RRULE (DAILY, WEEKLY or MONTHLY, with BY parts, WKST and an end or none), or none."""
    freq = draw(st.sampled_from([None, "DAILY", "WEEKLY", "MONTHLY"]))
    if freq is None:
        return None
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 3))}"]
    if freq in ("DAILY", "WEEKLY") and draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=4, unique=True))
        parts.append("BYDAY=" + ",".join(days))
    if freq == "WEEKLY" and draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(['SU', 'WE']))}")
    if freq == "MONTHLY":
        shape = draw(st.sampled_from(["plain", "monthday", "weekday"]))
        if shape == "monthday":
            days = draw(st.lists(st.sampled_from([1, 10, 15, 28, 31, -1]), min_size=1, max_size=3))
            parts.append("BYMONTHDAY=" + ",".join(map(str, sorted(set(days)))))
        elif shape == "weekday":
            parts.append(
                f"BYDAY={draw(st.sampled_from(['1', '2', '-1']))}{draw(st.sampled_from(DAYS))}"
            )
    end = draw(st.sampled_from(["count", "until", "open"]))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    elif end == "until":
        until = EARLIEST + timedelta(days=draw(st.integers(0, 6 * 365)))
        parts.append(f"UNTIL={until:%Y%m%d}T235959Z")
    return "RRULE:" + ";".join(parts)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """A document: a zone (some with DST), a local start by day, a length up to 26 h, a
    rule, and EXDATEs on some of its first occurrences."""
    zone = draw(st.sampled_from(ZONES))
    day = EARLIEST + timedelta(days=draw(st.integers(0, 4 * 365)))
    # Between 09:00 and 18:45 local: never inside a DST gap, whatever the zone.
    local = day.replace(
        hour=draw(st.integers(9, 18)), minute=draw(st.sampled_from([0, 15, 30, 45]))
    )
    start = local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    length = timedelta(minutes=draw(st.sampled_from([15, 30, 60, 90, 240, 24 * 60, 26 * 60])))
    rule = draw(rules())
    doc = {"title": "e", "start_time": _z(start), "end_time": _z(start + length), "timezone": zone}
    lines = [] if rule is None else [rule]
    if rule is not None:
        firsts = _walk(start, zone, rule, start + timedelta(days=400), [])[:12]
        dropped = draw(st.lists(st.sampled_from(firsts), max_size=3, unique=True))
        lines += [f"EXDATE:{moment:%Y%m%dT%H%M%SZ}" for moment in sorted(dropped)]
    return {**doc, "recurrence": lines}


@st.composite
def windows(draw: st.DrawFn) -> Span:
    start = EARLIEST + timedelta(
        days=draw(st.integers(-200, 5 * 365)), hours=draw(st.integers(0, 23))
    )
    length = draw(
        st.sampled_from(
            [
                timedelta(hours=1),
                timedelta(days=1),
                timedelta(days=7),
                timedelta(days=31),
                timedelta(days=120),
            ]
        )
    )
    return start.replace(tzinfo=UTC), (start + length).replace(tzinfo=UTC)


# --- the slow reference ---------------------------------------------------------------


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _walk(
    start: datetime, zone: str, rule: str, until: datetime, exdates: list[datetime]
) -> list[datetime]:
    """Occurrence starts (UTC) before `until`, walked from DTSTART, which always counts."""
    tz = ZoneInfo(zone)
    found = {start}
    for moment in rrulestr(rule.removeprefix("RRULE:"), dtstart=start.astimezone(tz)):
        if moment.astimezone(UTC) >= until:
            break
        found.add(moment.astimezone(UTC))
    return sorted(m for m in found if m not in exdates and m < until)


def reference(doc: dict[str, Any], until: datetime) -> list[Span]:
    """Every occurrence of the document starting before `until`, with its end."""
    start, end, zone = _t(doc["start_time"]), _t(doc["end_time"]), doc["timezone"]
    lines = doc["recurrence"]
    if not lines:
        return [(start, end)] if start < until else []
    exdates = [datetime.strptime(x[7:], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) for x in lines[1:]]
    tz = ZoneInfo(zone)
    wall = end.astimezone(tz).replace(tzinfo=None) - start.astimezone(tz).replace(tzinfo=None)
    spans = []
    for moment in _walk(start, zone, lines[0], until, exdates):
        if moment == start:
            spans.append((start, end))
            continue
        closing = (
            (moment.astimezone(tz).replace(tzinfo=None) + wall).replace(tzinfo=tz).astimezone(UTC)
        )
        spans.append((moment, closing if closing > moment else moment + (end - start)))
    return spans


def in_window(spans: list[Span], window: Span) -> list[Span]:
    return [(s, e) for s, e in spans if s < window[1] and e > window[0]]


# --- the test ------------------------------------------------------------------------

# One account per server: registering (argon2) costs more than an example's requests.
_accounts: weakref.WeakKeyDictionary[httpx.AsyncClient, Account] = weakref.WeakKeyDictionary()


async def _account(client: httpx.AsyncClient) -> Account:
    if client not in _accounts:
        _accounts[client] = await register(client)
    return _accounts[client]


@given(
    calendar=st.lists(events(), min_size=1, max_size=4),
    window=windows(),
    page=st.sampled_from([3, 10, 50]),
    candidate=events(),
)
@settings(
    max_examples=25,
    derandomize=True,
    database=None,  # nothing replayed from earlier runs: the same examples every time
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_window_answers_equal_a_full_walk(
    client: httpx.AsyncClient,
    calendar: list[dict[str, Any]],
    window: Span,
    page: int,
    candidate: dict[str, Any],
) -> None:
    """Listing, expanded listing (paged), conflicts and on_conflict=reject answer exactly
    what walking every rule from its first occurrence answers."""
    user = await _account(client)
    created = await client.post(f"{EVENTS}/batch", json={"events": calendar}, headers=user.headers)
    assert created.status_code == 201, created.text
    ids = [item["id"] for item in created.json()["items"]]
    try:
        await _check(client, user, calendar, ids, window, page, candidate)
    finally:  # the next example starts from an empty calendar
        listed = await client.get(EVENTS, params={"limit": "200"}, headers=user.headers)
        for event in listed.json()["items"]:
            await client.delete(f"{EVENTS}/{event['id']}", headers=user.headers)


async def _check(
    client: httpx.AsyncClient,
    user: Account,
    calendar: list[dict[str, Any]],
    ids: list[int],
    window: Span,
    page: int,
    candidate: dict[str, Any],
) -> None:
    far = window[1] + timedelta(days=2)
    walked = {
        i: in_window(reference(doc, far), window) for i, doc in zip(ids, calendar, strict=True)
    }
    bounds = {"start": _z(window[0]), "end": _z(window[1])}

    listed = await _pages(client, user.headers, {**bounds, "limit": str(page)})
    assert [e["id"] for e in listed] == [i for i in ids if walked[i]]

    expanded = await _pages(client, user.headers, {**bounds, "limit": str(page), "expand": "true"})
    expected = sorted((s, i, e) for i in ids for s, e in walked[i])
    assert [
        (_t(o["occurrence_start"]), o["id"], _t(o["occurrence_end"])) for o in expanded
    ] == expected

    answer = await client.get(f"{EVENTS}/conflicts", params=bounds, headers=user.headers)
    pairs = [
        ((_t(p["a"]["start"]), p["a"]["event_id"]), (_t(p["b"]["start"]), p["b"]["event_id"]))
        for p in answer.json()["items"]
    ]
    assert sorted(pairs) == _reference_pairs(expected)

    before = datetime.now(UTC)
    reject = await client.post(f"{EVENTS}?on_conflict=reject", json=candidate, headers=user.headers)
    after = datetime.now(UTC)
    clashes = [] if reject.status_code == 201 else reject.json()["error"]["details"]["conflicts"]
    assert reject.status_code in (201, 409), reject.text
    found = [(_t(c["start"]), c["event_id"], _t(c["end"])) for c in clashes]
    assert found in (_reference_clashes(candidate, calendar, ids, now) for now in (before, after))


def _reference_pairs(occurrences: list[tuple[datetime, int, datetime]]) -> list[tuple[Any, Any]]:
    pairs = []
    for n, (s1, i1, e1) in enumerate(occurrences):
        for s2, i2, e2 in occurrences[n + 1 :]:
            if i1 != i2 and s2 < e1 and s1 < e2:
                pairs.append(((s1, i1), (s2, i2)))
    return sorted(pairs)


def _reference_clashes(
    candidate: dict[str, Any], calendar: list[dict[str, Any]], ids: list[int], now: datetime
) -> list[tuple[datetime, int, datetime]]:
    """Their occurrences overlapping one of the candidate's, over its whole series, or up
    to HORIZON past now (past its first occurrence, when later) for one without end."""
    rule = candidate["recurrence"][0] if candidate["recurrence"] else ""
    if rule and "COUNT" not in rule and "UNTIL" not in rule:
        first = reference(candidate, _t(candidate["start_time"]) + timedelta(days=3650))[0][0]
        mine = reference(candidate, max(first, now) + HORIZON)
    else:
        mine = reference(candidate, datetime(2200, 1, 1, tzinfo=UTC))
    if not mine:
        return []
    reach = max(e for _, e in mine)
    theirs = [
        (s, i, e) for i, doc in zip(ids, calendar, strict=True) for s, e in reference(doc, reach)
    ]
    return sorted((s, i, e) for s, i, e in theirs if any(ms < e and s < me for ms, me in mine))


async def _pages(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str]
) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        answer = await client.get(
            EVENTS, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        items += answer.json()["items"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return items
