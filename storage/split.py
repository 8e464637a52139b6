"""Splitting a series at one occurrence ("this and following"). Pure: no I/O.

The old series keeps what comes before the occurrence; the new one starts at it. Each
RRULE of the old series ends with an UNTIL one second before the occurrence (RFC 5545
rules work to the second); a COUNT rule that still had occurrences left gives the new
series the rest of its COUNT. RDATE and EXDATE values, and overrides, go to whichever
series their time belongs to. Every occurrence ends up in exactly one of the two, at
its own time:
- A rule takes its implicit weekday, day, time and INTERVAL phase from DTSTART, so the
  new series starts at the rules' first match at or after the occurrence (an RDATE
  occurrence stays an RDATE, before that start); a split that would change another of
  its rules (a weekly rule's weekday taken from an hourly rule's match) is refused.
- DTSTART is always an occurrence: when the occurrence is at or before it (RDATEs came
  earlier), the old series keeps no rule and starts at its first occurrence, and the
  new series keeps the rules and start unchanged.
- A DATE RDATE takes DTSTART's clock time: a series whose start would change it is
  refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, SECONDLY, WEEKLY, YEARLY, rrule

from storage.document import build_document, format_time, parse_time
from storage.errors import validation_error
from storage.overrides import without_orphans
from storage.recurrence import event_bounds, occurrence_end, starts_among
from storage.recurrence_rules import load_zone, parse_recurrence
from storage.recurrence_skip import MAX_SCAN, SUB_DAILY_SECONDS, fast_forward

_UTC_FORMAT = "%Y%m%dT%H%M%SZ"
_NAIVE_EPOCH = datetime(1970, 1, 1)


def split_series(
    document: dict[str, Any], occurrence_id: str, changes: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the old series ended before `occurrence_id`, the new series from it with `changes`).

    validation_error when the id is not an occurrence, is the first one, or the series
    cannot be cut there without moving an occurrence.
    """
    moment = parse_time(occurrence_id)
    start, end = parse_time(document["start_time"]), parse_time(document["end_time"])
    assert start is not None and end is not None
    lines, zone_name = document["recurrence"], document["timezone"]
    if (
        moment is None
        or format_time(moment) != occurrence_id
        or not lines
        or moment not in starts_among(start, end, zone_name, lines, [moment])
    ):
        raise validation_error({"occurrence_id": "is not an occurrence of the series"})
    first = event_bounds(document)[0]
    if moment <= first:
        raise validation_error(
            {"occurrence_id": "is the first occurrence: change the whole series instead"}
        )
    zone = load_zone(zone_name)
    assert zone is not None
    # Rules match whole seconds; every occurrence carries the start's fraction.
    base = moment - timedelta(microseconds=start.microsecond)
    clock = start.astimezone(zone).time().replace(microsecond=0)
    before: list[str] = []
    after: list[str] = []
    anchors: list[datetime] = []
    for line in lines:
        name = line.partition(":")[0].partition(";")[0].upper()
        if name != "RRULE":
            old_values, new_values = _split_dates(line, base, clock, zone)
            before.extend(old_values)
            after.extend(new_values)
        elif start >= moment:  # no match before the occurrence: the rule stays as it is
            after.append(line)
        else:
            old_rule, new_rule, anchor = _split_rule(line, start, base, zone)
            before.append(old_rule)
            if new_rule is not None and anchor is not None:
                after.append(new_rule)
                anchors.append(anchor)
    if start >= moment:
        old_start, new_start = first, start
    else:
        old_start = start
        new_start = min(anchors, default=base) + timedelta(microseconds=start.microsecond)
        local, anchor = (t.astimezone(zone).replace(microsecond=0) for t in (start, new_start))
        rules = parse_recurrence([line for line in after if line[:6].upper() == "RRULE:"], zone)
        if not all(_restarts_alike(rule, local, anchor) for rule in rules.rules):
            raise validation_error(
                {"occurrence_id": "the series' rules would change their days or times from it"}
            )
    for series_start, series_lines in ((old_start, before), (new_start, after)):
        if series_start.astimezone(zone).time().replace(microsecond=0) != clock and any(
            parse_recurrence([line], zone).rdays for line in series_lines
        ):
            raise validation_error(
                {"occurrence_id": "a DATE RDATE would move to another time of day"}
            )
    overrides = document["overrides"]
    old = {
        **document,
        "start_time": format_time(old_start),
        "end_time": format_time(occurrence_end(start, end, zone_name, old_start)),
        "recurrence": before,
        "overrides": {k: v for k, v in overrides.items() if (parse_time(k) or moment) < moment},
    }
    new = {
        **document,
        "start_time": format_time(new_start),
        "end_time": format_time(occurrence_end(start, end, zone_name, new_start)),
        "recurrence": after,
        "overrides": {k: v for k, v in overrides.items() if k not in old["overrides"]},
    }
    merged = {**new, **changes}
    if "overrides" not in changes:
        merged = without_orphans(merged)
    return build_document(old), build_document(merged, base=new)


def _split_rule(
    line: str, start: datetime, base: datetime, zone: Any
) -> tuple[str, str | None, datetime | None]:
    """The rule for the old series, the rest of it for the new one, and its first match
    from `base` on, in UTC, where the rest starts (None, None: nothing left)."""
    rule = parse_recurrence([line], zone).rules[0]
    head, _, value = line.partition(":")
    parts = [p for p in value.split(";") if p.split("=")[0].upper() not in ("COUNT", "UNTIL")]
    until = (base - timedelta(seconds=1)).astimezone(UTC)
    ended = f"{head}:{';'.join([*parts, f'UNTIL={until:{_UTC_FORMAT}}'])}"
    local = start.astimezone(zone).replace(microsecond=0)
    if "count" not in rule:
        anchor = _first_match(rule, local, base.astimezone(zone))
        return (line, None, None) if anchor is None else (ended, line, anchor)
    for used, match in enumerate(rrule(dtstart=local, **rule)):
        if match >= base:
            left = rule["count"] - used
            return ended, f"{head}:{';'.join([*parts, f'COUNT={left}'])}", match.astimezone(UTC)
        if used >= MAX_SCAN:
            raise validation_error(
                {"occurrence_id": f"is more than {MAX_SCAN} occurrences into a COUNT rule"}
            )
    return line, None, None


def _first_match(rule: dict[str, Any], local: datetime, target: datetime) -> datetime | None:
    """The rule's first match at or after `target` (both local), in UTC; None: none."""
    kwargs, dtstart = fast_forward(rule, local, target)
    try:
        match = rrule(dtstart=dtstart, **kwargs).after(target, inc=True)
    except (ValueError, OverflowError):  # dateutil gives up on some sub-daily rules
        return None
    return match.astimezone(UTC) if match is not None else None


def _restarts_alike(rule: dict[str, Any], local: datetime, anchor: datetime) -> bool:
    """Whether the rule begun at `anchor` matches from there on as it does begun at
    `local` (both local): the parts dateutil takes from DTSTART when the rule has none
    agree, and INTERVAL counts the anchor's period among the rule's. True of any match
    of the rule."""
    freq = rule["freq"]
    taken = [
        name
        for part, name, finer in (("byhour", "hour", HOURLY), ("byminute", "minute", MINUTELY))
        if part not in rule and freq < finer
    ]
    if "bysecond" not in rule and freq < SECONDLY:
        taken.append("second")
    if not any(k in rule for k in ("byweekno", "byyearday", "bymonthday", "byweekday")):
        if freq in (YEARLY, MONTHLY):
            taken.append("day")
        if freq == YEARLY and "bymonth" not in rule:
            taken.append("month")
        if freq == WEEKLY and anchor.weekday() != local.weekday():
            return False
    if any(getattr(anchor, name) != getattr(local, name) for name in taken):
        return False
    naive, later = local.replace(tzinfo=None), anchor.replace(tzinfo=None)
    if freq == YEARLY:
        periods = later.year - naive.year
    elif freq == MONTHLY:
        periods = (later.year - naive.year) * 12 + later.month - naive.month
    elif freq == WEEKLY:  # weeks begin on WKST
        weeks = [
            t.date() - timedelta(days=(t.weekday() - rule["wkst"]) % 7) for t in (naive, later)
        ]
        periods = (weeks[1] - weeks[0]).days // 7
    elif freq == DAILY:
        periods = (later.date() - naive.date()).days
    else:  # sub-daily: whole hours, minutes or seconds of wall-clock time
        unit = timedelta(seconds=SUB_DAILY_SECONDS.get(freq, 1))
        periods = (later - _NAIVE_EPOCH) // unit - (naive - _NAIVE_EPOCH) // unit
    return periods % rule.get("interval", 1) == 0


def _split_dates(line: str, base: datetime, clock: time, zone: Any) -> tuple[list[str], list[str]]:
    """An RDATE or EXDATE line as the values before the moment and those from it on."""
    head, _, value = line.partition(":")
    before: list[str] = []
    after: list[str] = []
    for text in value.split(","):
        parsed = parse_recurrence([f"{head}:{text.strip()}"], zone)
        # A DATE RDATE is one occurrence at DTSTART's clock time; a DATE EXDATE drops a
        # whole day, which cannot be the occurrence's own.
        moments = parsed.rdates + parsed.exdates
        moments += [datetime.combine(d, clock, tzinfo=zone) for d in parsed.rdays]
        moments += [datetime.combine(d, time(), tzinfo=zone) for d in parsed.exdays]
        (before if moments[0] < base else after).append(text)
    return (
        [f"{head}:{','.join(before)}"] if before else [],
        [f"{head}:{','.join(after)}"] if after else [],
    )
