"""Schedule conflicts: overlapping pairs in a window, and what a new event would clash with.

Both sweep occurrences in start order: a window's pairs from its occurrences sorted
at once (at most MAX_SWEPT of them), a new event's clashes from a lazy merge as
storage.window_entries makes it, holding only the occurrences still running.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.errors import ErrorCode, TandemError, validation_error
from storage.events import window_rows
from storage.overrides import occurrences_as_now, span
from storage.recurrence import FAR_FUTURE
from storage.snapshot import Row, SnapshotRows, within
from storage.window_entries import Entry, entries_of, merged

# The most occurrences one conflict search sweeps: its answer is not paged, so its
# size must be bounded; past it the answer asks for a narrower window. (Expanded
# listings page lazily and need no such cap.)
MAX_SWEPT = 10_000
Span = tuple[datetime, datetime]


# Neither is ever tracked by the garbage collector (gc=False: they hold no container,
# so no cycle): a busy month's answer holds tens of thousands, which as dicts lived
# long enough to set off a full collection of the whole heap every few requests.
class ConflictSide(msgspec.Struct, gc=False):
    """One side of a conflict, as the contract names it (the codec writes the times)."""

    event_id: int
    title: str
    start: datetime
    end: datetime


class ConflictPair(msgspec.Struct, gc=False):
    """Two occurrences of different events that overlap, the earlier first."""

    a: ConflictSide
    b: ConflictSide


async def conflicting_pairs(
    reader: SnapshotRows, user_id: int, start: datetime, end: datetime
) -> list[ConflictPair]:
    """Every overlapping pair of occurrences of different events in the window, by the
    later one's start. One occurrence is in many pairs of a busy window: its side is
    made once and shared by them."""
    rows = await window_rows(reader, user_id, start, end)
    swept: list[Entry] = []
    for row in rows:
        swept.extend(islice(entries_of(row, start, end), MAX_SWEPT + 1 - len(swept)))
        if len(swept) > MAX_SWEPT:
            raise validation_error(
                {"end": f"the window holds more than {MAX_SWEPT} occurrences; narrow it"}
            )
    # Sorted at once, in expanded order: the answer is not paged, and one sort costs
    # less than a lazy merge of hundreds of series.
    swept.sort()
    titles = _titles(rows)
    sides = [conflict_side(occ, titles) for occ in swept]
    ends, owners = [o[3] for o in swept], [o[1] for o in swept]
    pairs: list[ConflictPair] = []
    active: list[int] = []  # those still running, by index
    for n, occ in enumerate(swept):
        moment, owner, later = occ[0], owners[n], sides[n]
        active = [a for a in active if ends[a] > moment]
        pairs.extend(ConflictPair(sides[a], later) for a in active if owners[a] != owner)
        active.append(n)
    return pairs


async def conflicts_with(
    conn: AsyncConnection,
    user_id: int,
    document: dict[str, Any],
    exclude_event_id: int | None,
    *,
    horizon: timedelta,
    now: datetime,
) -> list[ConflictSide]:
    """The caller's occurrences that overlap one of `document`'s, by (start, event id).

    Over the document's whole series; one without end is checked up to `horizon` past
    now (past its first occurrence, when that is later).
    """
    first, last = span(document)
    until = last if last < FAR_FUTURE else max(first, now) + horizon
    mine = [(start, end) for start, _, end, _ in occurrences_as_now(document, first, until)]
    if not mine:
        return []
    reach = (mine[0][0], max(end for _, end in mine))
    rows = await window_rows(await within(conn), user_id, *reach, exclude_event_id)
    titles = _titles(rows)
    return [conflict_side(o, titles) for o in _clashes(mine, merged(rows, *reach))]


async def refuse_schedule_conflicts(
    conn: AsyncConnection,
    user_id: int,
    document: dict[str, Any],
    exclude_event_id: int | None,
    *,
    horizon: timedelta,
    now: datetime,
) -> None:
    """schedule_conflict, naming each clash, when `document` overlaps the caller's events."""
    clashes = await conflicts_with(
        conn, user_id, document, exclude_event_id, horizon=horizon, now=now
    )
    if clashes:
        raise TandemError(
            ErrorCode.SCHEDULE_CONFLICT,
            f"the event overlaps {len(clashes)} other event occurrence(s)",
            {"conflicts": clashes},
        )


def conflict_side(occurrence: Entry, titles: dict[int, str]) -> ConflictSide:
    """An occurrence as a side of a conflict: its title is an override's, if it has one."""
    start, event_id, _, end, _, fields = occurrence
    return ConflictSide(event_id, fields.get("title", titles[event_id]), start, end)


def _titles(rows: list[Row]) -> dict[int, str]:
    """Each event's own title, by id (an override may replace an occurrence's)."""
    return {row[0]: row[1] for row in rows}


def _clashes(mine: list[Span], theirs: Iterator[Entry]) -> list[Entry]:
    """Each of `theirs` that overlaps one of `mine`: one sweep over both in start order.

    `active` holds mine still running; `waiting`, theirs still running that no earlier
    one of mine overlapped (a later one may). At equal starts mine come first.
    """
    clashes: list[Entry] = []
    active: list[Span] = []
    waiting: list[Entry] = []
    mine_first: Iterator[tuple[datetime, int, Any]] = (
        (start, 0, (start, end)) for start, end in mine
    )
    then_theirs: Iterator[tuple[datetime, int, Any]] = ((occ[0], 1, occ) for occ in theirs)
    for moment, theirs_side, item in heapq.merge(mine_first, then_theirs, key=lambda i: i[:2]):
        if theirs_side:
            active = [span for span in active if span[1] > moment]
            (clashes if any(span[0] < item[3] for span in active) else waiting).append(item)
        else:
            start, end = item
            waiting = [w for w in waiting if w[3] > start]
            clashes.extend(w for w in waiting if w[0] < end)
            waiting = [w for w in waiting if w[0] >= end]
            active.append(item)
    return sorted(clashes)
