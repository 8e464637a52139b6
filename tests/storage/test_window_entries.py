"""An expanded page gathered span by span equals the first entries of the full merge.

`first_entries` reads the window a span of time at a time and caps what one series
gives a span; `merged` is the lazy k-way merge that the conflict check still uses and
that the window's property tests (test_window_properties.py) check against a full walk.
Here the two are compared on random light rows: single events, plain and overridden
series (moved occurrences, some into other weeks), dense hourly ones (more than a
week's kept chunk holds), events longer than a span, and cursors taken anywhere in
the answer. Pure: no database.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import dropwhile, islice
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.document import format_time
from storage.recurrence import event_occurrences
from storage.window_entries import first_entries, merged

EARLIEST = datetime(2026, 1, 1, tzinfo=UTC)
ZONES = ["UTC", "Europe/Paris", "America/New_York"]
RULES = [
    "RRULE:FREQ=DAILY",
    "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "RRULE:FREQ=WEEKLY;INTERVAL=3",
    "RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15",
    "RRULE:FREQ=HOURLY;INTERVAL=2",  # 84 a week: more than a kept chunk holds
    "RRULE:FREQ=DAILY;COUNT=20",
]


@st.composite
def light_rows(draw: st.DrawFn, event_id: int) -> tuple[Any, ...]:
    """A light row as the window's statement reads it: (id, title, start, end, zone,
    rules as JSON text, overrides as JSON text)."""
    start = EARLIEST + timedelta(hours=draw(st.integers(0, 24 * 200)))
    length = timedelta(minutes=draw(st.sampled_from([30, 90, 24 * 60, 20 * 24 * 60])))
    zone = draw(st.sampled_from(ZONES))
    lines = draw(st.sampled_from([[], [], *([rule] for rule in RULES)]))
    overrides: dict[str, Any] = {}
    if lines and draw(st.booleans()):
        document = {
            "start_time": format_time(start),
            "end_time": format_time(start + length),
            "timezone": zone,
            "recurrence": lines,
        }
        firsts = [s for s, _ in islice(event_occurrences(document, start, start + length * 60), 8)]
        for original in draw(st.lists(st.sampled_from(firsts), max_size=3, unique=True)):
            moved = original + timedelta(hours=draw(st.sampled_from([0, 3, 24 * 9, -24 * 2])))
            change: dict[str, Any] = {"title": "changed"}
            if moved != original:
                change["start_time"] = format_time(moved)
                change["end_time"] = format_time(moved + timedelta(hours=1))
            overrides[format_time(original)] = change
    recurrence, stored_overrides = json.dumps(lines), json.dumps(overrides)
    return (event_id, "e", start, start + length, zone, recurrence, stored_overrides)


@st.composite
def calendars(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    count = draw(st.integers(1, 12))
    return [draw(light_rows(event_id)) for event_id in range(1, count + 1)]


@given(
    rows=calendars(),
    offset=st.integers(0, 24 * 150),
    width=st.sampled_from([timedelta(hours=5), timedelta(days=9), timedelta(days=130)]),
    count=st.sampled_from([1, 3, 17, 200]),
    cursor_at=st.one_of(st.none(), st.integers(0, 400)),
)
@settings(max_examples=300, derandomize=True, database=None, deadline=None)
def test_first_entries_are_the_merge_first(
    rows: list[tuple[Any, ...]],
    offset: int,
    width: timedelta,
    count: int,
    cursor_at: int | None,
) -> None:
    start = EARLIEST + timedelta(hours=offset)
    end = start + width
    seek, after = start, None
    if cursor_at is not None:
        every = list(merged(rows, start, end))
        if every:
            after = every[min(cursor_at, len(every) - 1)][:3]
            seek = max(start, after[0])
    expected = merged(rows, seek, end)
    if after is not None:
        expected = dropwhile(lambda entry: entry[:3] <= after, expected)
    assert first_entries(rows, seek, end, count, after) == list(islice(expected, count))


def test_a_dense_series_gives_a_page_without_its_whole_window() -> None:
    """Every two hours for a year: the first page of ten is its first ten, in order."""
    start = datetime(2026, 3, 4, 9, tzinfo=UTC)
    rows = [
        (1, "e", start, start + timedelta(hours=1), "UTC", '["RRULE:FREQ=HOURLY;INTERVAL=2"]', "{}")
    ]
    page = first_entries(rows, start, start + timedelta(days=365), 10)
    assert [entry[0] for entry in page] == [start + timedelta(hours=2 * n) for n in range(10)]
