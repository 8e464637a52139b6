"""Schedule conflicts: overlapping pairs in a window, and what a new event would clash with.

Both sweep occurrences in start order: a window's pairs from its occurrences sorted
at once (at most MAX_SWEPT of them), a new event's clashes from a lazy merge as
storage.events makes it, holding only the occurrences still running.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.errors import ErrorCode, TandemError, validation_error
from storage.events import (
    Occurrence,
    merged_occurrences,
    occurrence_key,
    occurrences_of,
    visible_in_window,
    window_rows,
)
from storage.overrides import occurrences_as_now, span
from storage.recurrence import FAR_FUTURE
from storage.tables import events

# The most occurrences one conflict search sweeps: its answer is not paged, so its
# size must be bounded; past it the answer asks for a narrower window. (Expanded
# listings page lazily and need no such cap.)
MAX_SWEPT = 10_000
Span = tuple[datetime, datetime]


class Conflicts(NamedTuple):
    """A window's occurrences by (start, event id), and each overlapping pair of them
    (of different events) as two indexes into that list, by the later one's start: an
    occurrence is in many pairs of a busy window, and is then written out once."""

    occurrences: list[Occurrence]
    pairs: list[tuple[int, int]]


async def conflicting_pairs(
    conn: AsyncConnection, user_id: int, start: datetime, end: datetime
) -> Conflicts:
    """Every overlapping pair of occurrences of different events in the window."""
    swept: list[Occurrence] = []
    for event, role in await window_rows(conn, visible_in_window(user_id, start, end)):
        swept.extend(islice(occurrences_of(event, role, start, end), MAX_SWEPT + 1 - len(swept)))
        if len(swept) > MAX_SWEPT:
            raise validation_error(
                {"end": f"the window holds more than {MAX_SWEPT} occurrences; narrow it"}
            )
    # Sorted at once: the answer is not paged, and one sort costs less than a lazy
    # merge of hundreds of series.
    swept.sort(key=occurrence_key)
    ends, owners = [o.end for o in swept], [o.event.id for o in swept]
    pairs: list[tuple[int, int]] = []
    active: list[int] = []  # those still running, by index
    for n, occ in enumerate(swept):
        moment, owner = occ.start, owners[n]
        active = [a for a in active if ends[a] > moment]
        pairs.extend((a, n) for a in active if owners[a] != owner)
        active.append(n)
    return Conflicts(swept, pairs)


async def conflicts_with(
    conn: AsyncConnection,
    user_id: int,
    document: dict[str, Any],
    exclude_event_id: int | None,
    *,
    horizon: timedelta,
    now: datetime,
) -> list[Occurrence]:
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
    query = visible_in_window(user_id, *reach)
    if exclude_event_id is not None:
        query = query.where(events.c.id != exclude_event_id)
    return _clashes(mine, merged_occurrences(await window_rows(conn, query), *reach))


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
            {"conflicts": [conflict_json(occurrence) for occurrence in clashes]},
        )


def conflict_json(occurrence: Occurrence) -> dict[str, Any]:
    """One side of a conflict, as the contract names it (the codec writes the times)."""
    return {
        "event_id": occurrence.event.id,
        "title": occurrence.title,
        "start": occurrence.start,
        "end": occurrence.end,
    }


def _clashes(mine: list[Span], theirs: Iterator[Occurrence]) -> list[Occurrence]:
    """Each of `theirs` that overlaps one of `mine`: one sweep over both in start order.

    `active` holds mine still running; `waiting`, theirs still running that no earlier
    one of mine overlapped (a later one may). At equal starts mine come first.
    """
    clashes: list[Occurrence] = []
    active: list[Span] = []
    waiting: list[Occurrence] = []
    mine_first: Iterator[tuple[datetime, int, Span | Occurrence]] = (
        (start, 0, (start, end)) for start, end in mine
    )
    then_theirs: Iterator[tuple[datetime, int, Span | Occurrence]] = (
        (occ.start, 1, occ) for occ in theirs
    )
    for moment, _side, item in heapq.merge(mine_first, then_theirs, key=lambda i: i[:2]):
        if isinstance(item, Occurrence):
            active = [span for span in active if span[1] > moment]
            (clashes if any(span[0] < item.end for span in active) else waiting).append(item)
        else:
            start, end = item
            waiting = [w for w in waiting if w.end > start]
            clashes.extend(w for w in waiting if w.start < end)
            waiting = [w for w in waiting if w.start >= end]
            active.append(item)
    return sorted(clashes, key=occurrence_key)
