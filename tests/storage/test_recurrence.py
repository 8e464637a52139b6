"""Recurrence expansion in the event's zone: the contract's example, RDATE and EXDATE,
windows and their edges, far windows, caps and series spans."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from storage.recurrence import FAR_FUTURE
from tests.storage.recurrence_times import (
    DAY,
    FAR,
    HOUR,
    MAX_OCCURRENCES,
    PARIS_END,
    PARIS_START,
    YEAR_2026,
    occurrences,
    series_span,
    utc,
)

PROTOCOL_LINES = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10", "EXDATE:20260309T080000Z"]


def test_local_time_kept_means_utc_shifts() -> None:
    """09:00 New York is 13:00Z in EDT and 14:00Z once EST starts on 1997-10-26."""
    start = utc("1997-10-24T13:00:00Z")
    found = occurrences(
        start, start + HOUR, "America/New_York", ["RRULE:FREQ=DAILY;COUNT=3"], start, FAR
    )
    assert [s for s, _ in found] == [
        utc("1997-10-24T13:00:00Z"),
        utc("1997-10-25T13:00:00Z"),
        utc("1997-10-26T14:00:00Z"),
    ]
    assert all(e - s == HOUR for s, e in found)


def paris(lines: list[str], window: tuple[datetime, datetime] = YEAR_2026) -> list[datetime]:
    found = occurrences(PARIS_START, PARIS_END, "Europe/Paris", lines, *window)
    return [s for s, _ in found]


def test_protocol_example() -> None:
    """The contract's weekly Paris meeting: 9 March dropped, 07:00Z from CEST (30 March) on."""
    found = occurrences(PARIS_START, PARIS_END, "Europe/Paris", PROTOCOL_LINES, *YEAR_2026)
    assert [s for s, _ in found] == [
        utc("2026-03-02T08:00:00Z"),
        utc("2026-03-16T08:00:00Z"),
        utc("2026-03-23T08:00:00Z"),
        utc("2026-03-30T07:00:00Z"),
        utc("2026-04-06T07:00:00Z"),
        utc("2026-04-13T07:00:00Z"),
        utc("2026-04-20T07:00:00Z"),
        utc("2026-04-27T07:00:00Z"),
        utc("2026-05-04T07:00:00Z"),
    ]
    assert all(e - s == HOUR for s, e in found)
    assert series_span(PARIS_START, PARIS_END, "Europe/Paris", PROTOCOL_LINES) == (
        utc("2026-03-02T08:00:00Z"),
        utc("2026-05-04T08:00:00Z"),
    )


def test_rdate_adds_occurrences_in_order() -> None:
    """RDATE adds occurrences (UTC, TZID and comma lists), merged in time order."""
    lines = [
        "RRULE:FREQ=WEEKLY;COUNT=2",
        "RDATE:20260304T120000Z",
        "RDATE;TZID=America/New_York:20260305T090000,20260306T090000",
    ]
    assert paris(lines) == [
        utc("2026-03-02T08:00:00Z"),
        utc("2026-03-04T12:00:00Z"),
        utc("2026-03-05T14:00:00Z"),
        utc("2026-03-06T14:00:00Z"),
        utc("2026-03-09T08:00:00Z"),
    ]


def test_exdate_forms() -> None:
    """EXDATE drops by UTC time, by TZID local time (across DST), floating local time or date."""
    lines = [
        "RRULE:FREQ=WEEKLY;COUNT=6",
        "EXDATE;TZID=Europe/Paris:20260309T090000,20260330T090000",
        "EXDATE:20260316T090000",
        "EXDATE;VALUE=DATE:20260323",
    ]
    assert paris(lines) == [utc("2026-03-02T08:00:00Z"), utc("2026-04-06T07:00:00Z")]


def test_date_rdate_takes_the_start_clock_time() -> None:
    """A VALUE=DATE RDATE adds an occurrence at the event's local start time that day."""
    assert paris(["RDATE;VALUE=DATE:20260401"]) == [
        utc("2026-03-02T08:00:00Z"),
        utc("2026-04-01T07:00:00Z"),
    ]


@pytest.mark.parametrize(
    ("until", "count"),
    [
        ("20260304T080000Z", 3),  # UTC, inclusive
        ("20260304T075959Z", 2),
        ("20260304T090000", 3),  # floating: 09:00 Paris
        ("20260304T085959", 2),
        ("20260304", 3),  # a date: the whole local day
    ],
)
def test_until_forms(until: str, count: int) -> None:
    """UNTIL in UTC, floating (local to the event's zone) or as a date works with an aware start."""
    assert len(paris([f"RRULE:FREQ=DAILY;UNTIL={until}"])) == count


def test_start_always_counts_as_first_occurrence() -> None:
    """DTSTART is an occurrence even when the rule would not match it (RFC 5545 3.8.5.3)."""
    tuesday = utc("2026-03-03T08:00:00Z")
    found = occurrences(
        tuesday, tuesday + HOUR, "Europe/Paris", ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2"], *YEAR_2026
    )
    assert [s for s, _ in found] == [
        tuesday,
        utc("2026-03-09T08:00:00Z"),
        utc("2026-03-16T08:00:00Z"),
    ]


def test_all_day_event_keeps_local_midnights_across_dst() -> None:
    """Occurrences keep local clock times: a day-long event spans 23 hours on the DST day."""
    start, end = utc("2026-03-21T23:00:00Z"), utc("2026-03-22T23:00:00Z")  # Sunday, Paris
    found = occurrences(start, end, "Europe/Paris", ["RRULE:FREQ=WEEKLY;COUNT=2"], *YEAR_2026)
    assert found == [
        (start, end),
        (utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z")),
    ]


def test_window_overlap_edges() -> None:
    """An occurrence counts when it overlaps [window_start, window_end): touching is not enough."""
    lines = ["RRULE:FREQ=DAILY;COUNT=3"]
    second = utc("2026-03-03T08:00:00Z")
    assert paris(lines, (second, second + HOUR)) == [second]
    assert paris(lines, (second + HOUR, second + 2 * HOUR)) == []  # ends as the window starts
    assert paris(lines, (second - HOUR, second)) == []  # starts as the window ends
    tick = timedelta(microseconds=1)
    assert paris(lines, (second + HOUR - tick, second + 2 * HOUR)) == [second]
    assert paris(lines, (second - HOUR, second + tick)) == [second]


def test_occurrence_running_into_the_window_is_included() -> None:
    """An occurrence that began before the window but is still running overlaps it."""
    lines = ["RRULE:FREQ=DAILY;COUNT=3"]
    inside = (utc("2026-03-03T08:30:00Z"), utc("2026-03-03T08:45:00Z"))
    assert paris(lines, inside) == [utc("2026-03-03T08:00:00Z")]


def test_single_event_without_recurrence() -> None:
    """With no lines the event itself is the only occurrence, when it overlaps."""
    assert occurrences(PARIS_START, PARIS_END, "UTC", [], *YEAR_2026) == [(PARIS_START, PARIS_END)]
    assert occurrences(PARIS_START, PARIS_END, "UTC", [], PARIS_END, FAR.replace(year=2030)) == []
    assert series_span(PARIS_START, PARIS_END, "UTC", []) == (PARIS_START, PARIS_END)


def test_unbounded_rule_expands_lazily() -> None:
    """A rule without end yields as many occurrences as are taken, a century's worth too."""
    lines = ["RRULE:FREQ=DAILY"]
    century = (PARIS_START, utc("2126-01-01T00:00:00Z"))
    assert len(paris(lines, century)) == MAX_OCCURRENCES
    assert len(occurrences(PARIS_START, PARIS_END, "UTC", lines, *century, limit=7)) == 7


def test_far_window_of_an_old_rule() -> None:
    """Decades after its start, an endless rule still expands the right days, local time kept."""
    lines = ["RRULE:FREQ=DAILY;INTERVAL=2"]
    window = (utc("2090-03-24T00:00:00Z"), utc("2090-03-30T00:00:00Z"))
    # 2026-03-02 + 2 * 11,699 days = 2090-03-24; CEST starts on 2090-03-26, a Sunday.
    assert paris(lines, window) == [
        utc("2090-03-24T08:00:00Z"),
        utc("2090-03-26T07:00:00Z"),
        utc("2090-03-28T07:00:00Z"),
    ]


def test_far_window_keeps_defaults_from_the_real_start() -> None:
    """A monthly rule from the 31st meets only 31-day months, however far ahead one looks."""
    start = utc("2026-01-31T09:00:00Z")
    window = (utc("2060-01-01T00:00:00Z"), utc("2061-01-01T00:00:00Z"))
    found = occurrences(start, start + HOUR, "UTC", ["RRULE:FREQ=MONTHLY"], *window)
    assert [s.strftime("%m-%d") for s, _ in found] == [
        "01-31", "03-31", "05-31", "07-31", "08-31", "10-31", "12-31",
    ]  # fmt: skip
    leap = utc("2028-02-29T09:00:00Z")
    later = (utc("2090-01-01T00:00:00Z"), utc("2101-01-01T00:00:00Z"))
    found = occurrences(leap, leap + HOUR, "UTC", ["RRULE:FREQ=YEARLY"], *later)
    assert [s.date().isoformat() for s, _ in found] == ["2092-02-29", "2096-02-29"]


def test_far_window_matches_a_full_walk() -> None:
    """Expanding a far window gives what walking the rule from its start gives."""
    lines = ["RRULE:FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,SA", "EXDATE:20400114T080000Z"]
    window = (utc("2040-01-01T00:00:00Z"), utc("2040-03-01T00:00:00Z"))
    walked = [s for s in paris(lines, (PARIS_START, window[1])) if s >= window[0]]
    assert paris(lines, window) == walked
    # Every third week from Monday 2026-03-02: the weeks of 9 January, 30 January and
    # 20 February 2040; 09:00 Paris is 08:00Z in winter; the 14th is excluded.
    assert [s.day for s in walked] == [10, 31, 4, 21, 25]


@pytest.mark.parametrize(
    "rule",
    [
        "RRULE:FREQ=DAILY;COUNT=1000",
        "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=150",
        "RRULE:FREQ=MONTHLY;COUNT=40",
        "RRULE:FREQ=YEARLY;COUNT=12",
        "RRULE:FREQ=WEEKLY;BYDAY=MO,TH;COUNT=300",  # two a week: walked, not skipped
    ],
)
def test_far_window_of_a_count_rule_matches_a_full_walk(rule: str) -> None:
    """A COUNT rule skipped ahead ends where walking it from the start ends, local time kept."""
    lines = [rule, "EXDATE:20290305T080000Z"]
    whole = paris(lines, (PARIS_START, utc("2040-01-01T00:00:00Z")))
    last = whole[-1]
    windows = [
        (utc("2029-03-01T00:00:00Z"), utc("2029-04-01T00:00:00Z")),  # excluded day, DST
        (last - timedelta(days=3), last + timedelta(days=3)),  # around the last occurrence
        (last + timedelta(days=1), last + timedelta(days=800)),  # after the series
        (last + timedelta(days=400), last + timedelta(days=800)),  # long after it
    ]
    for window in windows:
        assert paris(lines, window) == [s for s in whole if window[0] < s + HOUR and s < window[1]]


def test_fraction_of_a_second_is_kept() -> None:
    """A start with microseconds gives occurrences with the same fraction, the first exact."""
    start = utc("2026-03-02T08:00:00.250000Z")
    found = occurrences(start, start + HOUR, "UTC", ["RRULE:FREQ=DAILY;COUNT=2"], *YEAR_2026)
    assert [s for s, _ in found] == [start, start + timedelta(days=1)]


def test_series_span_bounded_and_unbounded() -> None:
    """The bounds end at the last end for COUNT/UNTIL rules and at FAR_FUTURE without end."""
    span = series_span(PARIS_START, PARIS_END, "Europe/Paris", ["RRULE:FREQ=DAILY;COUNT=30"])
    assert span == (PARIS_START, utc("2026-03-31T08:00:00Z"))
    until = ["RRULE:FREQ=WEEKLY;UNTIL=20260330T070000Z"]
    assert series_span(PARIS_START, PARIS_END, "Europe/Paris", until)[1] == utc(
        "2026-03-30T08:00:00Z"
    )
    endless = ["RRULE:FREQ=WEEKLY;COUNT=2", "RRULE:FREQ=MONTHLY"]
    assert series_span(PARIS_START, PARIS_END, "Europe/Paris", endless) == (
        PARIS_START,
        FAR_FUTURE,
    )


def test_series_span_with_rdates_and_exdates() -> None:
    """An RDATE before the start opens the span; an EXDATE on the last occurrence shortens it."""
    lines = ["RRULE:FREQ=DAILY;COUNT=3", "RDATE:20260220T100000Z", "EXDATE:20260304T080000Z"]
    assert series_span(PARIS_START, PARIS_END, "Europe/Paris", lines) == (
        utc("2026-02-20T10:00:00Z"),
        utc("2026-03-03T09:00:00Z"),
    )


def test_series_span_of_a_huge_count_is_open_ended() -> None:
    """A COUNT that runs past year 9999, or too long to walk, ends at FAR_FUTURE."""
    lines = ["RRULE:FREQ=HOURLY;COUNT=100000000"]
    assert series_span(PARIS_START, PARIS_END, "UTC", lines) == (PARIS_START, FAR_FUTURE)
    lines = ["RRULE:FREQ=DAILY;BYHOUR=9,10;COUNT=60000"]
    assert series_span(PARIS_START, PARIS_END, "UTC", lines) == (PARIS_START, FAR_FUTURE)


def test_series_span_when_everything_is_excluded() -> None:
    """A series whose every occurrence is excluded keeps the event's own span."""
    lines = ["RRULE:FREQ=DAILY;COUNT=1", "EXDATE:20260302T080000Z"]
    assert paris(lines) == []
    assert series_span(PARIS_START, PARIS_END, "Europe/Paris", lines) == (PARIS_START, PARIS_END)


@pytest.mark.parametrize(
    ("lines", "length"),
    [
        (["RRULE:FREQ=HOURLY;INTERVAL=2"], HOUR),  # too many a week to keep: walked
        (["RRULE:FREQ=DAILY;BYHOUR=9,21"], HOUR),  # fourteen a week: kept
        (["RRULE:FREQ=WEEKLY;BYDAY=SU,MO"], 30 * HOUR),  # across the weeks' edges
        (["RRULE:FREQ=DAILY", "EXDATE:20290326T080000Z"], HOUR),
    ],
)
def test_any_window_matches_a_full_walk_across_kept_weeks(
    lines: list[str], length: timedelta
) -> None:
    """Occurrences are found a week of time at a time, and kept: every window, whatever
    weeks it covers, at their edges and across DST, answers what a full walk answers."""
    start = utc("2029-03-19T08:00:00Z")  # a week before Paris moves to summer time
    end = start + length
    whole = occurrences(start, end, "Europe/Paris", lines, start, start + 300 * DAY, 10_000)
    monday = utc("2029-03-26T00:00:00Z")  # where a kept week begins
    windows = [
        (monday, monday + 7 * DAY),
        (monday - timedelta(microseconds=1), monday + timedelta(microseconds=1)),
        (monday + 3 * HOUR, monday + 23 * DAY),
        (start - 3 * DAY, start + DAY),
        (monday + 40 * DAY, monday + 40 * DAY + HOUR),
        (monday - 2 * DAY, monday + 200 * DAY),  # wider than kept weeks cover: walked
    ]
    for _ in range(2):  # expanded, then from the weeks kept the first time
        for low, high in windows:
            expected = [(s, e) for s, e in whole if s < high and e > low]
            assert occurrences(start, end, "Europe/Paris", lines, low, high, 10_000) == expected
