"""Occurrence overrides: expanding a series with them applied, and edits of one occurrence.

An override (PROTOCOL.md v1.1) replaces some fields of one occurrence, keyed by the
occurrence's original start in UTC; a moved occurrence keeps that key. Every read
that expands a series goes through an `Expansion` (`occurrences_as_now` for a
document, `expansion_of` for a stored row of the window's reads), so an occurrence is
found where it now is. Pure: no I/O (each document's overrides are read once and kept,
keyed by their content).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from datetime import datetime
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from storage.document import OVERRIDE_FIELDS, format_time, parse_time
from storage.errors import ErrorCode, TandemError, not_found, validation_error
from storage.json_columns import read_json
from storage.patch_diff import make_ops
from storage.patching import apply_ops, escape, is_json_value
from storage.recurrence import (
    event_bounds,
    event_occurrences,
    occurrence_end,
    series_of,
    starts_among,
)
from storage.recurrence_rules import RecurrenceError

# The fields an override carries besides the times, as they appear in an expanded item.
SHOWN_FIELDS = ("title", "description", "location", "metadata")
# Expanded documents kept per process, keyed by what they are made of (each version
# of an event is prepared once; a rollback to an old version finds it again).
CACHED_EXPANSIONS = 4096
# An expansion is kept only while its overrides' JSON is at most this long: a key and an
# expansion hold them about three times, so the caches stay under about 150 MB however
# large the documents (a series with a few overrides is a few hundred bytes).
CACHED_OVERRIDES_TEXT = 4096
# What an occurrence without an override shows of its own: nothing (shared, read-only).
NO_FIELDS: Mapping[str, Any] = MappingProxyType({})

# One occurrence as it now is: (start, original start in UTC or None for a single
# event, end, the overridden title/description/location/metadata and only those).
# Plain tuples: a month's conflicts make thousands. Within one event they order by
# (start, original start), which are never both equal.
Expanded = tuple[datetime, datetime | None, datetime, Mapping[str, Any]]
# One of a series' (its original start is always known).
SeriesOccurrence = tuple[datetime, datetime, datetime, Mapping[str, Any]]


def _times(document: dict[str, Any]) -> tuple[datetime, datetime]:
    start, end = parse_time(document["start_time"]), parse_time(document["end_time"])
    assert start is not None and end is not None, "a stored document has valid times"
    return start, end


def occurrences_as_now(
    document: dict[str, Any], window_start: datetime, window_end: datetime
) -> Iterator[Expanded]:
    """Lazily, by start, the occurrences overlapping the window with overrides applied.

    An occurrence moved into the window is found although its original time is
    elsewhere, and one moved out of it is not: the series' own occurrences stream from
    storage.recurrence, less the moved ones, merged with the moved ones (at most
    MAX_OVERRIDES, placed up front) by start.
    """
    if document["recurrence"]:
        return _expansion(document).between(window_start, window_end)
    return (
        (start, None, end, NO_FIELDS)
        for start, end in event_occurrences(document, window_start, window_end)
    )


class Expansion:
    """A recurring document's overrides, read once: which occurrences moved where,
    and what the others show of their own."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.series = series_of(document)
        start, end = _times(document)
        moved: list[SeriesOccurrence] = []
        self.shown: dict[datetime, Mapping[str, Any]] = {}
        for key, override in document["overrides"].items():
            original = parse_time(key)
            assert original is not None, "override keys are validated occurrence ids"
            shown = {name: override[name] for name in SHOWN_FIELDS if name in override}
            if "start_time" in override or "end_time" in override:
                original_end = occurrence_end(start, end, document["timezone"], original)
                moved.append(
                    (
                        parse_time(override.get("start_time")) or original,
                        original,
                        parse_time(override.get("end_time")) or original_end,
                        shown,
                    )
                )
            else:
                self.shown[original] = shown
        self.moved = sorted(moved, key=itemgetter(0, 1))
        self.moved_from = frozenset(original for _, original, _, _ in moved)
        # Most series: no override at all, their occurrences are the series' own.
        self.plain = not self.moved and not self.shown

    def between(self, window_start: datetime, window_end: datetime) -> Iterator[SeriesOccurrence]:
        series = self.series.between(window_start, window_end)
        if self.plain:
            return ((start, start, end, NO_FIELDS) for start, end in series)
        shown, moved_from = self.shown, self.moved_from
        staying = (
            (start, start, end, shown.get(start, NO_FIELDS))
            for start, end in series
            if start not in moved_from
        )
        placed = [o for o in self.moved if o[0] < window_end and o[2] > window_start]
        return heapq.merge(staying, placed, key=itemgetter(0, 1)) if placed else staying

    def occurs_between(self, window_start: datetime | None, window_end: datetime | None) -> bool:
        """Whether an occurrence overlaps the window; a side that is None is open."""
        if any(
            (window_end is None or start < window_end)
            and (window_start is None or end > window_start)
            for start, _, end, _ in self.moved
        ):
            return True
        # An open side is closed at the series' own bounds, which none of its
        # occurrences passes: a series without end is walked only up to its first
        # occurrence after `window_start`, a finite one no further than its last.
        first, last = self.series.bounds
        series = self.series.between(
            first if window_start is None else window_start,
            last if window_end is None else window_end,
        )
        moved_from = self.moved_from
        if not moved_from:
            return next(series, None) is not None
        return any(start not in moved_from for start, _ in series)


_expansions: dict[tuple[Any, ...], Expansion] = {}


def _expansion(document: dict[str, Any]) -> Expansion:
    # Keyed by the stored strings; repr tells JSON values apart (1, 1.0, True, "1").
    overrides = document["overrides"]
    key = (
        document["start_time"],
        document["end_time"],
        document["timezone"],
        tuple(document["recurrence"]),
        repr(overrides) if overrides else "",
    )
    found = _expansions.get(key)
    if found is None:
        found = Expansion(document)
        if len(key[-1]) <= CACHED_OVERRIDES_TEXT:
            _expansions[key] = found
            if len(_expansions) > CACHED_EXPANSIONS:
                del _expansions[next(iter(_expansions))]  # the oldest
    return found


# Expansions by a row's stored values (rules and overrides as JSON text), so that a
# window's reads find each series without decoding or hashing its JSON values.
_by_row: dict[tuple[datetime, datetime, str, str, str], Expansion | None] = {}


def expansion_of(
    start: datetime, end: datetime, timezone: str, recurrence: str, overrides: str
) -> Expansion | None:
    """The expansion of a stored event, from its columns (rules and overrides as the
    JSON text they are stored as); None for a single event."""
    if recurrence == "[]":  # a single event, as both databases store its rules
        return None
    key = (start, end, timezone, recurrence, overrides)
    try:
        return _by_row[key]
    except KeyError:
        pass
    lines = read_json(recurrence)
    found = None
    if lines:
        document = {
            "start_time": format_time(start),
            "end_time": format_time(end),
            "timezone": timezone,
            "recurrence": lines,
            "overrides": read_json(overrides),
        }
        found = _expansion(document)
    if len(overrides) <= CACHED_OVERRIDES_TEXT:
        _by_row[key] = found
        if len(_by_row) > CACHED_EXPANSIONS:
            del _by_row[next(iter(_by_row))]  # the oldest
    return found


def span(document: dict[str, Any]) -> tuple[datetime, datetime]:
    """The event's bounds (storage.recurrence.event_bounds) widened to every moved
    occurrence, so that a window query finds an occurrence where it now is."""
    first, last = event_bounds(document)
    if not document["recurrence"]:
        return first, last
    for moved_start, _, moved_end, _ in _expansion(document).moved:
        first, last = min(first, moved_start), max(last, moved_end)
    return first, last


def without_orphans(document: dict[str, Any]) -> dict[str, Any]:
    """`document` less the overrides whose keys its rules no longer produce (what PUT
    drops itself). A document too broken to expand is left as it is: validation will
    name what is wrong with it."""
    overrides = document.get("overrides")
    start, end = parse_time(document.get("start_time")), parse_time(document.get("end_time"))
    if not isinstance(overrides, dict) or not overrides or start is None or end is None:
        return document
    moments = {key: parse_time(key) for key in overrides}
    try:
        real = starts_among(
            start,
            end,
            document["timezone"],
            document["recurrence"] or [],
            [m for m in moments.values() if m is not None],
        )
    except (RecurrenceError, TypeError, KeyError):
        return document
    kept = {key: value for key, value in overrides.items() if moments[key] in real}
    return {**document, "overrides": kept}


def require_occurrence(document: dict[str, Any], occurrence_id: str) -> tuple[datetime, datetime]:
    """The original (start, end) of that occurrence; not_found when it is none."""
    moment = parse_time(occurrence_id)
    start, end = _times(document)
    if (
        moment is None
        or format_time(moment) != occurrence_id
        or not document["recurrence"]
        or moment
        not in starts_among(start, end, document["timezone"], document["recurrence"], [moment])
    ):
        raise not_found(f"occurrence {occurrence_id}")
    return moment, occurrence_end(start, end, document["timezone"], moment)


def differences(
    document: dict[str, Any], occurrence_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """`fields` less those equal to the series' value for that occurrence (its own
    times for start_time and end_time): an override only says how it differs."""
    original_start, original_end = require_occurrence(document, occurrence_id)
    series = {
        **{name: document[name] for name in SHOWN_FIELDS},
        "start_time": format_time(original_start),
        "end_time": format_time(original_end),
    }
    kept = {}
    for name, value in fields.items():
        moment = parse_time(value) if name in ("start_time", "end_time") else None
        same = format_time(moment) == series[name] if moment is not None else value == series[name]
        if not same:
            kept[name] = value
    return kept


def set_occurrence_ops(
    document: dict[str, Any], occurrence_id: str, fields: dict[str, Any]
) -> list[dict[str, Any]]:
    """The patch that sets one occurrence's override to `fields` over what it had."""
    require_occurrence(document, occurrence_id)
    unknown = {name: "unknown field" for name in fields if name not in OVERRIDE_FIELDS}
    if unknown:
        raise validation_error(unknown, "only title, description, location, times and metadata")
    # Refused as the document's own rules refuse a bad override, keyed by its pointer:
    # left to the patch built below, they would be that patch's invalid_patch.
    not_json = {
        f"overrides/{escape(occurrence_id)}/{name}": "must hold only JSON values"
        for name, value in fields.items()
        if not is_json_value(value)
    }
    if not_json:
        summary = "invalid event: " + "; ".join(f"{k} {v}" for k, v in not_json.items())
        raise TandemError(ErrorCode.INVALID_EVENT, summary, {"fields": not_json})
    merged = {**document["overrides"].get(occurrence_id, {}), **fields}
    override = differences(document, occurrence_id, merged)
    overrides = {key: value for key, value in document["overrides"].items() if key != occurrence_id}
    if override:
        overrides[occurrence_id] = override
    return make_ops(document, {**document, "overrides": overrides})


def cancel_occurrence_ops(document: dict[str, Any], occurrence_id: str) -> list[dict[str, Any]]:
    """The patch that cancels one occurrence: an EXDATE line, and its override dropped."""
    moment, _ = require_occurrence(document, occurrence_id)
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/recurrence/-", "value": f"EXDATE:{moment:%Y%m%dT%H%M%SZ}"}
    ]
    if occurrence_id in document["overrides"]:
        ops.append({"op": "remove", "path": f"/overrides/{escape(occurrence_id)}"})
    return ops


def cancelled_override_ops(
    document: dict[str, Any], ops: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The removals of the overrides whose occurrences `ops` cancel with an EXDATE line:
    a cancelled occurrence takes its override with it (PROTOCOL.md), however it was
    cancelled. Overrides that a change of the rules orphans stay the patch's to remove."""
    if not document.get("overrides") or not any(op["path"].startswith("/recurrence") for op in ops):
        return []
    try:
        changed = apply_ops(document, ops)
    except TandemError:
        return []  # the engine's own apply names what is wrong with the patch
    recurrence = changed.get("recurrence")
    if not isinstance(recurrence, list):
        return []
    rules_only = [line for line in recurrence if not (isinstance(line, str) and _is_exdate(line))]
    cancelled = _orphans(changed) - _orphans({**changed, "recurrence": rules_only})
    return [{"op": "remove", "path": f"/overrides/{escape(key)}"} for key in sorted(cancelled)]


def _is_exdate(line: str) -> bool:
    name = line.split(":", 1)[0].split(";", 1)[0]
    return name.strip().upper() == "EXDATE"


def _orphans(document: dict[str, Any]) -> set[str]:
    overrides = document.get("overrides")
    if not isinstance(overrides, dict):
        return set()
    return set(overrides) - set(without_orphans(document)["overrides"])
