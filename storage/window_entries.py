"""A window's occurrences as plain tuples (`Entry`), from the light rows of its events.

Two ways to read them, for two kinds of caller:
- `merged`: every occurrence in order, lazily (a new event's clashes, swept while the
  merge runs).
- `first_entries`: the first few after a cursor (an expanded page). Gathered span by
  span of time and sorted, instead of merging one generator per series: the page of a
  month holding 350 series needs the first week of each, and opening 350 generators
  to take one or two occurrences from each cost more than the page itself.

Pure: no I/O.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any

from storage.overrides import NO_FIELDS, Expansion, expansion_of
from storage.recurrence import CHUNK, MAX_CHUNKS, next_chunk_edge
from storage.snapshot import Row

# One occurrence while a window is expanded: (start, event id, original start or the
# start, end, original start or None for a single event, the overridden fields). Plain
# tuples that order without a key function, by (start, event id, original start): unique
# (two occurrences of one series may be moved to the same start), so a cursor (that
# key) never skips or repeats an occurrence, and nothing past it is ever compared.
Entry = tuple[datetime, int, datetime, datetime, datetime | None, Mapping[str, Any]]
# Where a page resumes: the (start, event id, original start) of the last one given.
Key = tuple[datetime, int, datetime]

_start = itemgetter(0)
# The longest span read at once: within the weeks a series keeps (MAX_CHUNKS, less
# those a long occurrence reaches back).
_LONGEST_SPAN = CHUNK * (MAX_CHUNKS // 2)


def merged(rows: Iterable[Row], start: datetime, end: datetime) -> Iterator[Entry]:
    """The occurrences of light rows in the window in expanded order, lazily: a k-way
    merge of one generator per series (and one sorted list of the single events'
    occurrences), so memory follows the events, never the occurrences."""
    single: list[Entry] = []
    series = []
    for row in rows:
        found = entries_of(row, start, end)
        if isinstance(found, list):
            single.extend(found)
        else:
            series.append(found)
    single.sort()
    return heapq.merge(single, *series)


def entries_of(row: Row, start: datetime, end: datetime) -> list[Entry] | Iterator[Entry]:
    """A light row's occurrences in the window by start: a list for a single event (of
    one at most), a generator for a series."""
    event_id, first, last = row[0], row[2], row[3]
    expansion = expansion_of(first, last, row[4], row[5], row[6])
    if expansion is None:
        overlaps = first < end and last > start
        return [(first, event_id, first, last, None, NO_FIELDS)] if overlaps else []
    if expansion.plain:  # a generator fewer for each series and occurrence
        return ((s, event_id, s, e, s, NO_FIELDS) for s, e in expansion.series.between(start, end))
    return ((s, event_id, o, e, o, fields) for s, o, e, fields in expansion.between(start, end))


def first_entries(
    rows: Iterable[Row], start: datetime, end: datetime, count: int, after: Key | None = None
) -> list[Entry]:
    """The first `count` occurrences of light rows in the window [start, end) whose key
    is past `after` (a cursor's, which starts no later than `start`), in expanded order:
    what `merged` gives first, found without merging.

    The window is read a span of time at a time: up to the next week's edge first (the
    series keep their occurrences in those weeks), then twice as long each time, at
    most eight weeks, until `count` are found. Everything starting in a span is
    gathered and sorted at once; all of it starts before anything not gathered yet, so
    its order is the window's. One series gives a span its first `count` (and the few
    a cursor or its moved occurrences may take away), never more: those past its first
    `count` cannot be on the page, so an hourly series in a wide window costs the page,
    never the window.
    """
    singles: list[Entry] = []
    series = []
    for row in rows:
        event_id, first, last = row[0], row[2], row[3]
        expansion = expansion_of(first, last, row[4], row[5], row[6])
        if expansion is None:
            if first < end and last > start and (after is None or (first, event_id, first) > after):
                singles.append((first, event_id, first, last, None, NO_FIELDS))
        else:
            series.append((event_id, expansion))
    singles.sort()
    page: list[Entry] = []
    low, length = start, CHUNK
    try:
        high = min(end, next_chunk_edge(start))
    except OverflowError:  # near the end of time: one span
        high = end
    while len(page) < count:
        # Those starting in [low, high): the first span also holds those that began
        # before the window and end in it.
        begun = bisect_left(singles, low, key=_start) if low > start else 0
        found = singles[begun : bisect_left(singles, high, key=_start)]
        for event_id, expansion in series:
            found.extend(_series_entries(event_id, expansion, low, high, start, after, count))
        found.sort()
        page.extend(found[: count - len(page)])
        if high >= end:
            break
        low, length = high, min(length * 2, _LONGEST_SPAN)
        high = end if end - low <= length else low + length
    return page


def _series_entries(
    event_id: int,
    expansion: Expansion,
    low: datetime,
    high: datetime,
    start: datetime,
    after: Key | None,
    count: int,
) -> list[Entry]:
    """Enough of one series' entries starting in [low, high) (or, from the window's
    `start`, overlapping [start, high)) past `after` to hold its first `count`: in no
    particular order, as the span's entries are sorted together."""
    cursor = after if low == start else None  # later spans start past the cursor
    since = low if low > start else (None if cursor is None else cursor[0])
    moved_from = expansion.moved_from
    # The series' own: one more than the page, as its first may be the cursor's (a
    # series starts once at a time), and as many more as were moved away.
    own = expansion.series.first_between(low, high, since, count + 1 + len(moved_from))
    if expansion.plain:
        entries: list[Entry] = [(s, event_id, s, e, s, NO_FIELDS) for s, e in own]
    else:
        shown = expansion.shown
        entries = [
            (s, event_id, s, e, s, shown.get(s, NO_FIELDS)) for s, e in own if s not in moved_from
        ]
        entries += [
            (s, event_id, original, e, original, fields)
            for s, original, e, fields in expansion.moved
            if s < high and e > low and (since is None or s >= since)
        ]
    if cursor is not None:
        return [entry for entry in entries if entry[:3] > cursor]
    return entries
