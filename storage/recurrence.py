"""RFC 5545 recurrence of an event: expanding its occurrences and its series span.

Rules expand in the event's time zone, so a weekly 09:00 Europe/Paris meeting stays
09:00 local across a DST change (its UTC time shifts). The lines are parsed and
checked by storage.recurrence_rules. Pure: no I/O.

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
- Daily to yearly rules skip whole periods up to the window, so a window decades
  after the start is cheap; COUNT rules do so only when each period holds one
  occurrence (no BY parts). Other COUNT rules and sub-daily ones are walked from the
  start, at most MAX_SCAN occurrences per call (later ones are then left out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rruleset

from storage.recurrence_rules import Recurrence, RecurrenceError, load_zone, parse_recurrence

# Default cap on the occurrences one call returns.
MAX_OCCURRENCES = 5000
# Occurrences one call may step through (~5 us each, so ~0.25 s at most): bounds a
# COUNT or sub-daily rule expanded far from its start, and series_span (then None).
MAX_SCAN = 50_000


def occurrences(
    start: datetime,
    end: datetime,
    timezone: str,
    lines: list[str],
    window_start: datetime,
    window_end: datetime,
    limit: int = MAX_OCCURRENCES,
) -> list[tuple[datetime, datetime]]:
    """(start, end) pairs in UTC, in order, of the occurrences overlapping the window.

    At most `limit`, and at most MAX_SCAN stepped through. Raises RecurrenceError for
    lines that recurrence_problem would refuse.
    """
    if not lines:
        return [(start, end)] if start < window_end and end > window_start and limit > 0 else []
    zone = _zone(timezone)
    rec = parse_recurrence(lines, zone)
    found: list[tuple[datetime, datetime]] = []
    end_of = _ender(start, end, zone)
    # Anything starting before `ahead_of` ends before the window: rules may skip it.
    ahead_of = window_start - (end - start) if window_start > end else None
    moments = _starts(rec, start, zone, ahead_of)
    for scanned, moment in enumerate(moments):
        if scanned >= MAX_SCAN or len(found) >= limit:
            break
        occ_start = moment.astimezone(UTC)
        if occ_start >= window_end:
            break
        occ_end = end_of(moment)
        if occ_end > window_start:
            found.append((occ_start, occ_end))
    return found


def series_span(
    start: datetime, end: datetime, timezone: str, lines: list[str]
) -> tuple[datetime, datetime | None]:
    """The first occurrence's start and the last one's end, in UTC.

    The end is None when some RRULE has neither COUNT nor UNTIL, or when the series has
    more than MAX_SCAN occurrences: callers treat both as open-ended. A series whose
    every occurrence is excluded keeps the event's own span.
    """
    if not lines:
        return start, end
    zone = _zone(timezone)
    rec = parse_recurrence(lines, zone)
    moments = _starts(rec, start, zone)
    first = next(moments, None)
    if first is None:
        return start, end
    first_start = first.astimezone(UTC)
    if any("count" not in rule and "until" not in rule for rule in rec.rules):
        return first_start, None
    end_of = _ender(start, end, zone)
    last = end_of(first)
    for scanned, moment in enumerate(moments, start=1):
        if scanned >= MAX_SCAN:
            return first_start, None
        last = max(last, end_of(moment))
    return first_start, last


def _zone(name: str) -> ZoneInfo:
    zone = load_zone(name)
    if zone is None:
        raise RecurrenceError(f"unknown time zone {name!r}")
    return zone


def _starts(
    rec: Recurrence, start: datetime, zone: ZoneInfo, ahead_of: datetime | None = None
) -> Iterator[datetime]:
    """Occurrence starts, aware and in order (rule ones in `zone`, dates in UTC)."""
    local = start.astimezone(zone)
    fraction = timedelta(microseconds=local.microsecond)
    local = local.replace(microsecond=0)
    target = ahead_of.astimezone(zone) if ahead_of is not None else None
    rset = rruleset()
    for rule in rec.rules:
        kwargs, dtstart = (rule, local) if target is None else _fast_forward(rule, local, target)
        rset.rrule(rrule(dtstart=dtstart, **kwargs))
    # Same wall time and zone as the rule's first match, so the set merges the two.
    rset.rdate(local)
    for day in rec.rdays:
        rset.rdate(datetime.combine(day, local.time(), tzinfo=zone).astimezone(UTC))
    for moment in rec.rdates:
        rset.rdate(moment)
    for moment in rec.exdates:
        rset.exdate(moment)
    try:
        for moment in rset:
            if not rec.exdays or moment.astimezone(zone).date() not in rec.exdays:
                yield moment + fraction if fraction else moment
    except (ValueError, OverflowError):
        # dateutil gives up on some sub-daily combinations, and time ends at year 9999.
        return


def _ender(start: datetime, end: datetime, zone: ZoneInfo) -> Callable[[datetime], datetime]:
    """Maps an occurrence start to its end: the event's local clock length later."""
    length = end - start
    wall = end.astimezone(zone).replace(tzinfo=None) - start.astimezone(zone).replace(tzinfo=None)

    def end_of(moment: datetime) -> datetime:
        occ_start = moment.astimezone(UTC)
        if occ_start == start:
            return end  # the event itself, as stored (even at an ambiguous local time)
        try:
            local = moment.astimezone(zone).replace(tzinfo=None)
            closing = (local + wall).replace(tzinfo=zone).astimezone(UTC)
        except OverflowError:  # time ends at year 9999
            return datetime.max.replace(tzinfo=UTC)
        return closing if closing > occ_start else occ_start + length

    return end_of


def _fast_forward(
    rule: dict[str, Any], local: datetime, target: datetime
) -> tuple[dict[str, Any], datetime]:
    """The rule restarted whole periods later, at least two periods before `target`.

    Without COUNT, what a rule yields after a period boundary does not depend on how
    many periods came before, so a daily rule begun years ago need not be walked from
    its start. Defaults dateutil takes from DTSTART's date are pinned to the real start.
    A COUNT rule skips too when each period holds exactly one occurrence: the skipped
    periods are taken off its COUNT, keeping at least the last occurrence.
    """
    freq, step = rule["freq"], rule.get("interval", 1)
    if freq > DAILY or ("count" in rule and not _one_per_period(rule, local)):
        return rule, local
    if freq == YEARLY:
        periods = (target.year - local.year) // step
    elif freq == MONTHLY:
        periods = ((target.year - local.year) * 12 + target.month - local.month) // step
    else:
        periods = (target.date() - local.date()).days // (step * (7 if freq == WEEKLY else 1))
    periods -= 2  # margin: occurrences begun before the new start may still run into the window
    if "count" in rule:
        periods = min(periods, rule["count"] - 1)
    if periods <= 0:
        return rule, local
    rule = dict(rule)
    if "count" in rule:
        rule["count"] -= periods
    if not any(k in rule for k in ("byweekno", "byyearday", "bymonthday", "byweekday")):
        if freq == YEARLY:
            rule.setdefault("bymonth", local.month)
        if freq in (YEARLY, MONTHLY):
            rule["bymonthday"] = local.day
        elif freq == WEEKLY:
            rule["byweekday"] = local.weekday()
    unit = {YEARLY: "years", MONTHLY: "months", WEEKLY: "weeks", DAILY: "days"}[freq]
    shift = relativedelta(**{unit: step * periods})
    return rule, (local.replace(tzinfo=None) + shift).replace(tzinfo=local.tzinfo)


def _one_per_period(rule: dict[str, Any], local: datetime) -> bool:
    """Whether every period of the rule holds exactly one occurrence, at DTSTART's place."""
    if any(key.startswith("by") for key in rule):
        return False
    if rule["freq"] == MONTHLY:
        return local.day <= 28
    if rule["freq"] == YEARLY:
        return (local.month, local.day) != (2, 29)
    return True
