"""RFC 5545 recurrence of an event: its occurrences in a window, and its bounds.

The one place that turns an event into occurrences: listings, expanded listings,
conflicts and the stored bounds all come from here. Rules expand in the event's time
zone, so a weekly 09:00 Europe/Paris meeting stays 09:00 local across a DST change
(its UTC time shifts). The lines are parsed and checked by storage.recurrence_rules.
Pure: no I/O.

Choices where RFC 5545 or the contract leave room:
- DTSTART is always the first occurrence (RFC 5545 3.8.5.3) unless an EXDATE drops
  it; COUNT counts the rule's own matches.
- A DATE EXDATE drops every occurrence starting on that local day; a DATE RDATE adds
  one at DTSTART's clock time.
- Occurrences keep the event's local clock times: end = local start + (local end -
  local start), so an all-day event stays midnight to midnight across DST. Where
  that lands at or before the start (inside a DST gap) the absolute length is used.
- Rules work to the second (RFC 5545 has no fractions): a start_time's fraction of
  a second is added to every occurrence.
- Expansion starts at the window, whatever the rule's shape: rules skip whole periods
  up to it, and a COUNT rule is first turned into the UNTIL rule of its last match
  (walked once per series, then cached). Only a COUNT rule with several matches per
  period and more than MAX_SCAN of them cannot be: it is walked from its start, and
  occurrences more than MAX_SCAN steps before a window are left out.
- The bounds are the first occurrence's start and the last one's end; a series
  without end (or one too long to walk) ends at FAR_FUTURE.
- A series' occurrences are found a week of time at a time and kept (a bounded
  number per process): a month listing, its conflicts and the next request for any
  window in those weeks read them instead of expanding the rules again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import chain, islice
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rruleset

from storage.document import format_time, parse_time
from storage.recurrence_rules import Recurrence, RecurrenceError, load_zone, parse_recurrence
from storage.recurrence_skip import (
    MAX_SCAN,
    SUB_DAILY_SECONDS,
    UNITS,
    Stepper,
    can_step,
    fast_forward,
    one_per_period,
    without_count,
)

# The end of a series without end: the bounds' stand-in for "never".
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
# Parsed series kept per process, keyed by what they are made of (so each version of
# an event is parsed once, and a rollback to an old version finds it again).
CACHED_SERIES = 4096
# Occurrences are found a week of time at a time (`Series.between`), at most MAX_CHUNKS
# of them for one window (a wider one is walked), each kept unless it holds more than
# CHUNK_OCCURRENCES (an hourly rule, say: walked), and CACHED_OCCURRENCES in all per
# process (about 15 MB), the oldest chunks dropped first.
CHUNK = timedelta(days=7)
MAX_CHUNKS = 16
CHUNK_OCCURRENCES = 64
CACHED_OCCURRENCES = 100_000
_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: chunks are Monday-to-Monday weeks
# The chunks whose bounds (and a microsecond before) are times.
_FIRST = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // CHUNK + 1
_LAST = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // CHUNK - 1
# A wall-clock length can exceed the absolute one by a DST shift (at most two hours,
# in any zone's history): skipping ahead keeps that much margin.
_DST_SLACK = timedelta(hours=2)


def event_occurrences(
    document: dict[str, Any], window_start: datetime, window_end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Lazily, the (start, end) pairs in UTC of the event's occurrences overlapping
    [window_start, window_end), in start order.

    Raises RecurrenceError for lines that recurrence_problem would refuse.
    """
    if not document["recurrence"]:
        start, end = _instant(document["start_time"]), _instant(document["end_time"])
        return iter([(start, end)] if start < window_end and end > window_start else [])
    return series_of(document).between(window_start, window_end)


def event_bounds(document: dict[str, Any]) -> tuple[datetime, datetime]:
    """The event's first occurrence start and last occurrence end (FAR_FUTURE: none)."""
    if not document["recurrence"]:
        return _instant(document["start_time"]), _instant(document["end_time"])
    return series_of(document).bounds


def series_of(document: dict[str, Any]) -> Series:
    """The recurring document's series, parsed once (the same object for every version
    with these times, zone and lines)."""
    # Keyed by the stored strings: hashing them is cheaper than hashing aware datetimes.
    lines = tuple(document["recurrence"])
    return _series(document["start_time"], document["end_time"], document["timezone"], lines)


def next_chunk_edge(moment: datetime) -> datetime:
    """The first edge of the weeks a series keeps (`Series.between`) after `moment`."""
    return _EPOCH + ((moment - _EPOCH) // CHUNK + 1) * CHUNK


def _instant(text: str) -> datetime:
    moment = _parse_time(text)
    assert moment is not None  # a stored document is canonical
    return moment


# Stored times are canonical "...Z" strings, read again on every window query.
_parse_time = lru_cache(maxsize=1 << 16)(parse_time)


@lru_cache(maxsize=CACHED_SERIES)
def _series(start: str, end: str, timezone: str, lines: tuple[str, ...]) -> Series:
    zone = load_zone(timezone)
    if zone is None:
        raise RecurrenceError(f"unknown time zone {timezone!r}")
    return Series(_instant(start), _instant(end), zone, parse_recurrence(list(lines), zone))


# The chunks kept, by series and chunk number (the series is kept alive while its
# chunks are), oldest first; and how many occurrences (and chunks) they hold.
_chunks: dict[tuple[Series, int], tuple[tuple[datetime, datetime], ...]] = {}
_held = 0


class Series:
    """One recurring event, parsed once: its occurrences in any window, and its bounds."""

    def __init__(self, start: datetime, end: datetime, zone: ZoneInfo, rec: Recurrence) -> None:
        self.start, self.end, self.zone = start, end, zone
        local = start.astimezone(zone)
        self.fraction = timedelta(microseconds=local.microsecond)
        self.local = local.replace(microsecond=0)
        rec.rules = [without_count(rule, self.local) for rule in rec.rules]
        # One plain DAILY or WEEKLY rule, the commonest series, is stepped by arithmetic.
        self.stepper = (
            Stepper(rec.rules[0], self.local)
            if len(rec.rules) == 1 and not (rec.rdates or rec.rdays) and can_step(rec.rules[0])
            else None
        )
        self.rec = rec
        self.exdates = frozenset(rec.exdates)
        # Anything starting this long before a window ends before it (DST included).
        self.reach = (end - start) + _DST_SLACK
        self.end_of = _ender(start, end, zone)
        self.bounds = self._bounds()
        # Whether every window's occurrences are found whichever point a walk starts
        # from: not so for a COUNT rule walked from its start (MAX_SCAN).
        self.chunked = all("count" not in r or one_per_period(r, self.local) for r in rec.rules)

    def between(
        self, window_start: datetime, window_end: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        """The occurrences overlapping the window, by start: from the week-long chunks of
        time it covers (`_chunk`), each expanded once and kept, so that any window asked
        again (a month, its weeks, its conflicts, another client's) costs no expansion."""
        chunks = self._chunks_of(window_start, window_end)
        if chunks is None:
            return self._walk(window_start, window_end)
        return self._from_chunks(chunks, window_start, window_end)

    def first_between(
        self, window_start: datetime, window_end: datetime, since: datetime | None, most: int
    ) -> list[tuple[datetime, datetime]]:
        """The first `most` of `between`'s occurrences that start at or after `since`, as
        a list read straight from the kept chunks: an expanded page asks this of every
        series in its window, and a generator each cost more than their occurrences."""
        chunks = self._chunks_of(window_start, window_end)
        if chunks is not None:
            found = self._first_kept(chunks, window_start, window_end, since, most)
            if found is not None:
                return found
        walked = self._walk(window_start, window_end)
        return list(islice((o for o in walked if since is None or o[0] >= since), most))

    def _first_kept(
        self,
        chunks: range,
        window_start: datetime,
        window_end: datetime,
        since: datetime | None,
        most: int,
    ) -> list[tuple[datetime, datetime]] | None:
        """`first_between` from the kept chunks; None when one holds too many to keep."""
        found: list[tuple[datetime, datetime]] = []
        for chunk in chunks:
            kept = _chunks.get((self, chunk))
            if kept is None:
                kept = self._chunk(chunk)
                if kept is None:
                    return None
            for occurrence in kept:
                if occurrence[0] >= window_end:
                    return found
                if occurrence[1] > window_start and (since is None or occurrence[0] >= since):
                    found.append(occurrence)
                    if len(found) == most:
                        return found
        return found

    def _chunks_of(self, window_start: datetime, window_end: datetime) -> range | None:
        """The chunks holding every occurrence that overlaps the window; None when it
        must be walked instead."""
        return _chunk_range(window_start, window_end, self.reach) if self.chunked else None

    def _from_chunks(
        self, chunks: range, window_start: datetime, window_end: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        for chunk in chunks:
            found = _chunks.get((self, chunk))
            if found is None:
                found = self._chunk(chunk)
                if found is None:  # too many to keep: the rest walked, from this chunk on
                    low = _EPOCH + chunk * CHUNK
                    yield from (o for o in self._walk(window_start, window_end) if o[0] >= low)
                    return
            for occ_start, occ_end in found:
                if occ_start >= window_end:
                    return
                if occ_end > window_start:
                    yield occ_start, occ_end

    def _chunk(self, chunk: int) -> tuple[tuple[datetime, datetime], ...] | None:
        """The occurrences starting within the chunk, kept; None (and the series no
        longer chunked) when it holds more than CHUNK_OCCURRENCES."""
        global _held
        low = _EPOCH + chunk * CHUNK
        # A microsecond early, so that one starting at `low` is there whatever its end.
        walked = self._walk(low - timedelta(microseconds=1), low + CHUNK)
        found = tuple(islice((o for o in walked if o[0] >= low), CHUNK_OCCURRENCES + 1))
        if len(found) > CHUNK_OCCURRENCES:
            self.chunked = False
            return None
        _chunks[self, chunk] = found
        _held += len(found) + 1
        while _held > CACHED_OCCURRENCES:
            _held -= len(_chunks.pop(next(iter(_chunks)))) + 1  # the oldest
        return found

    def _walk(
        self, window_start: datetime, window_end: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        # Anything starting before `ahead` ends before the window: rules may skip it,
        # and its end need not be worked out.
        ahead = window_start - self.reach
        end_of, skipped = self.end_of, 0
        for moment in self._starts(ahead if ahead > self.end else None):
            occ_start = moment.astimezone(UTC)
            if occ_start >= window_end:
                return
            if occ_start >= ahead:
                occ_end = end_of(moment, occ_start)
                if occ_end > window_start:
                    yield occ_start, occ_end
                    continue
            skipped += 1  # only a long COUNT rule walked from its start skips many
            if skipped >= MAX_SCAN:
                return

    def _bounds(self) -> tuple[datetime, datetime]:
        first = next(self._starts(), None)
        if first is None:  # every occurrence excluded: the event's own span
            return self.start, self.end
        first_start = first.astimezone(UTC)
        latest = self._latest_start()
        if latest is None:
            return first_start, FAR_FUTURE
        # Look back from the latest possible start, further each time, until an
        # occurrence that no EXDATE removed is found: the last one. Those that began
        # `margin` earlier are read too, as one of them may end later (DST).
        margin = (self.end - self.start) + 2 * _DST_SLACK
        lookback = margin + timedelta(days=1)
        while True:
            since = max(first_start, latest - lookback)
            starts = [(m, m.astimezone(UTC)) for m in self._starts(since - margin)]
            found = [(start, self.end_of(m, start)) for m, start in starts]
            if since == first_start or any(start >= since for start, _ in found):
                return first_start, max(end for _, end in found)
            lookback *= 2

    def _latest_start(self) -> datetime | None:
        """No occurrence starts after this (UTC); None for a series without end."""
        latest = [self.start, *self.rec.rdates]
        latest += [datetime.combine(d, self.local.time(), tzinfo=self.zone) for d in self.rec.rdays]
        for rule in self.rec.rules:
            if "until" in rule:
                latest.append(rule["until"])
            elif "count" in rule and one_per_period(rule, self.local):
                unit = UNITS.get(rule["freq"], "seconds")
                step = rule.get("interval", 1) * SUB_DAILY_SECONDS.get(rule["freq"], 1)
                try:
                    naive = self.local.replace(tzinfo=None)
                    last = naive + relativedelta(**{unit: step * (rule["count"] - 1)})
                except (OverflowError, ValueError):  # past year 9999
                    return None
                latest.append(last.replace(tzinfo=self.zone))
            else:  # no end, or a COUNT too long to have been resolved
                return None
        return max(moment.astimezone(UTC) for moment in latest)

    def _starts(self, ahead_of: datetime | None = None) -> Iterator[datetime]:
        """Occurrence starts, aware and in order (rule ones in the zone, dates in UTC)."""
        target = ahead_of.astimezone(self.zone) if ahead_of is not None else None
        stepper = self.stepper
        moments = self._walked(target) if stepper is None else self._stepped(stepper, target)
        if not self.rec.exdays and not self.fraction:
            return moments  # the common case, without a generator layer per occurrence
        return self._kept(moments)

    def _kept(self, moments: Iterator[datetime]) -> Iterator[datetime]:
        """Less those on an excluded day; plus the start's fraction of a second."""
        exdays, fraction, zone = self.rec.exdays, self.fraction, self.zone
        for moment in moments:
            if not exdays or moment.astimezone(zone).date() not in exdays:
                yield moment + fraction if fraction else moment

    def _stepped(self, stepper: Stepper, target: datetime | None) -> Iterator[datetime]:
        # DTSTART first (it is the earliest, and always an occurrence, unless one before
        # the target: that ends before the window), then the rule's matches after it. An
        # EXDATE is an instant, which aware datetimes compare by; hashing one asks its
        # zone for the offset, so none is hashed when there is no EXDATE.
        exdates, local = self.exdates, self.local
        matches = stepper.after(target)
        if exdates:
            matches = (m for m in matches if m not in exdates)
        # (Compared with the UTC start: aware times in one zone compare by wall clock.)
        if (target is not None and self.start < target) or (exdates and local in exdates):
            return matches
        return chain((local,), matches)

    def _walked(self, target: datetime | None) -> Iterator[datetime]:
        local, rec = self.local, self.rec
        rset = rruleset()
        for rule in rec.rules:
            kwargs, dtstart = (rule, local) if target is None else fast_forward(rule, local, target)
            rset.rrule(rrule(dtstart=dtstart, **kwargs))
        # Same wall time and zone as the rule's first match, so the set merges the two.
        rset.rdate(local)
        for day in rec.rdays:
            rset.rdate(datetime.combine(day, local.time(), tzinfo=self.zone).astimezone(UTC))
        for moment in rec.rdates:
            rset.rdate(moment)
        for moment in rec.exdates:
            rset.exdate(moment)
        try:
            yield from rset
        except (ValueError, OverflowError):
            # dateutil gives up on some sub-daily combinations, and time ends at year 9999.
            return


@lru_cache(maxsize=1024)
def _chunk_range(window_start: datetime, window_end: datetime, reach: timedelta) -> range | None:
    """The chunks holding every occurrence of a series reaching `reach` back that overlaps
    the window; None when it is too wide to read by chunks. Cached: every series of an
    expanded page asks it of the same window, most with one of a few reaches."""
    try:
        first = (window_start - reach - _EPOCH) // CHUNK
    except OverflowError:  # near the beginning of time
        return None
    last = (window_end - _EPOCH) // CHUNK
    if last - first > MAX_CHUNKS or not _FIRST < first <= last < _LAST:
        return None
    return range(first, last + 1)


def _ender(
    start: datetime, end: datetime, zone: ZoneInfo
) -> Callable[[datetime, datetime], datetime]:
    """Maps an occurrence start (aware, and the same in UTC) to its end: the event's
    local clock length later."""
    length = end - start
    wall = end.astimezone(zone).replace(tzinfo=None) - start.astimezone(zone).replace(tzinfo=None)

    def end_of(moment: datetime, occ_start: datetime) -> datetime:
        if occ_start == start:
            return end  # the event itself, as stored (even at an ambiguous local time)
        try:
            # Aware arithmetic within one zone is wall-clock arithmetic.
            closing = (moment.astimezone(zone) + wall).astimezone(UTC)
        except OverflowError:  # time ends at year 9999
            return datetime.max.replace(tzinfo=UTC)
        return closing if closing > occ_start else occ_start + length

    return end_of


def occurrence_end(start: datetime, end: datetime, timezone: str, moment: datetime) -> datetime:
    """The end of the occurrence starting at `moment` (the event's local clock length later)."""
    zone = load_zone(timezone)
    if zone is None:
        raise RecurrenceError(f"unknown time zone {timezone!r}")
    return _ender(start, end, zone)(moment, moment.astimezone(UTC))


def starts_among(
    start: datetime, end: datetime, timezone: str, lines: list[str], candidates: list[datetime]
) -> set[datetime]:
    """Those of `candidates` (aware UTC) that are occurrence starts of the series.

    One expansion from the earliest candidate to the latest, so checking a thousand
    override keys costs one walk, not a thousand.
    """
    if not candidates or not lines:
        return set()
    document = {
        "start_time": format_time(start),
        "end_time": format_time(end),
        "timezone": timezone,
        "recurrence": lines,
    }
    wanted = set(candidates)
    # A microsecond early: an occurrence starting exactly at the earliest still overlaps.
    window = (min(candidates) - timedelta(microseconds=1), max(candidates) + timedelta(seconds=1))
    return {moment for moment, _ in event_occurrences(document, *window) if moment in wanted}
