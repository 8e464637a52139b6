"""RFC 5545 recurrence lines of an event: parsing and validating them.

The event's `recurrence` is a list of RRULE, RDATE and EXDATE lines; its `start_time`
plays DTSTART. This module turns the lines into a `Recurrence` (rrule arguments and
dates) or says why they cannot be used; storage.recurrence expands it. Pure: no I/O.

Choices where RFC 5545 or the contract leave room:
- DTSTART lines are refused (start_time is DTSTART). EXRULE is refused: RFC 5545
  deprecated it, and an exclusion rule that never matches would make dateutil walk
  day by day to year 9999 on every expansion.
- A date-time without Z or TZID (in UNTIL, RDATE, EXDATE) is local to the event's
  zone. A DATE UNTIL includes that whole local day.
- Rules are checked to match within PROBE_YEARS: dateutil scans to year 9999 for a
  rule that never matches (Feb 30), which takes seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import MONTHLY, YEARLY, rrule, weekday

MAX_LINES = 50
MAX_LINE_LENGTH = 1000
# Far past any calendar need; dateutil's day stepping costs grow with it.
MAX_INTERVAL = 1000
# Every edit of a series checks its rules again, most often unchanged: the answers for
# the usual few short lines are kept (bounded in entries and in text).
CACHED_RULES = 1024
CACHED_RULES_TEXT = 1024
# A rule must match within this many years of its start (see the probe).
PROBE_YEARS = 100

# dateutil numbers the frequencies in this order, from YEARLY = 0 to SECONDLY = 6.
_FREQ_NAMES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# part -> (lowest, highest, may count from the end). BYSECOND stops at 59: Python
# datetimes have no leap second.
_NUMBER_PARTS = {
    "BYSECOND": (0, 59, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
# RFC 5545 3.3.10: these parts MUST NOT appear with these frequencies.
_FORBIDDEN = {
    "BYWEEKNO": _FREQ_NAMES[1:],
    "BYYEARDAY": ("MONTHLY", "WEEKLY", "DAILY"),
    "BYMONTHDAY": ("WEEKLY",),
}
_BYDAY = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)", re.ASCII)
_DATE_TIME = re.compile(r"(\d{8})T(\d{6})(Z?)", re.ASCII)
_DATE = re.compile(r"\d{8}", re.ASCII)
_NUMBER = re.compile(r"[+-]?\d{1,3}", re.ASCII)
_COUNT = re.compile(r"\d{1,10}", re.ASCII)
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")


class RecurrenceError(ValueError):
    """A recurrence that cannot be used; the message says why."""


@dataclass
class Recurrence:
    """The parsed lines, as storage.recurrence expands them."""

    rules: list[dict[str, Any]] = field(default_factory=list)  # rrule keyword arguments
    rdates: list[datetime] = field(default_factory=list)  # aware, UTC
    rdays: list[date] = field(default_factory=list)
    exdates: list[datetime] = field(default_factory=list)  # aware, UTC
    exdays: set[date] = field(default_factory=set)


def load_zone(name: object) -> ZoneInfo | None:
    """The IANA zone of that name, or None (also for paths such as "../etc" or "")."""
    if not isinstance(name, str) or len(name) > 64 or not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a directory, or not a TZif file
        return None


def recurrence_problem(lines: list[str], start: datetime, timezone: str) -> str | None:
    """None when the lines are a usable recurrence for this start and zone, else why not."""
    if (
        isinstance(lines, list)
        and all(isinstance(line, str) for line in lines)
        and sum(map(len, lines)) <= CACHED_RULES_TEXT
    ):
        return _cached_problem(tuple(lines), start, timezone)
    return _problem(lines, start, timezone)


@lru_cache(maxsize=CACHED_RULES)
def _cached_problem(lines: tuple[str, ...], start: datetime, timezone: str) -> str | None:
    return _problem(list(lines), start, timezone)


def _problem(lines: list[str], start: datetime, timezone: str) -> str | None:
    zone = load_zone(timezone)
    if zone is None:
        return "unknown time zone"
    try:
        parse_recurrence(lines, zone, probe_from=start.astimezone(zone))
    except RecurrenceError as exc:
        return str(exc)
    return None


def parse_recurrence(
    lines: object, zone: ZoneInfo, probe_from: datetime | None = None
) -> Recurrence:
    """The lines parsed in `zone`, or RecurrenceError.

    With `probe_from` (the series start in `zone`) each RRULE is also probed, as
    recurrence_problem does for a document; expansion skips that cost.
    """
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise RecurrenceError("must be a list of strings")
    if len(lines) > MAX_LINES:
        raise RecurrenceError(f"at most {MAX_LINES} lines")
    rec = Recurrence()
    for number, line in enumerate(lines, start=1):
        try:
            if len(line) > MAX_LINE_LENGTH:
                raise RecurrenceError(f"longer than {MAX_LINE_LENGTH} characters")
            _parse_line(line.strip(), zone, rec, probe_from)
        except RecurrenceError as exc:
            raise RecurrenceError(f"line {number}: {exc}") from None
    return rec


def _parse_line(line: str, zone: ZoneInfo, rec: Recurrence, probe_from: datetime | None) -> None:
    head, colon, value = line.partition(":")
    if not colon or not value:
        raise RecurrenceError("expected NAME:VALUE")
    name, *raw_params = head.split(";")
    name = name.upper()
    params: dict[str, str] = {}
    for raw in raw_params:
        key, equals, param = raw.partition("=")
        if not equals:
            raise RecurrenceError(f"bad parameter {raw!r}")
        params[key.upper()] = param.strip('"')
    if name == "RRULE":
        if params:
            raise RecurrenceError("RRULE takes no parameters")
        rule = _parse_rule(value.upper(), zone)
        if probe_from is not None:
            _probe(rule, probe_from)
        rec.rules.append(rule)
    elif name in ("RDATE", "EXDATE"):
        if set(params) - {"TZID", "VALUE"}:
            raise RecurrenceError(f"{name} takes only TZID and VALUE parameters")
        for text in value.split(","):
            moment = _parse_moment(text.strip(), params, zone)
            if isinstance(moment, datetime):
                (rec.rdates if name == "RDATE" else rec.exdates).append(moment)
            elif name == "RDATE":
                rec.rdays.append(moment)
            else:
                rec.exdays.add(moment)
    elif name == "DTSTART":
        raise RecurrenceError("DTSTART is not allowed: start_time is the series start")
    elif name == "EXRULE":
        raise RecurrenceError("EXRULE is not supported (deprecated by RFC 5545); use EXDATE")
    else:
        raise RecurrenceError(f"unknown property {name!r}")


def _parse_rule(value: str, zone: ZoneInfo) -> dict[str, Any]:
    parts: dict[str, str] = {}
    for item in value.split(";"):
        key, equals, part = item.partition("=")
        if not equals or not part:
            raise RecurrenceError(f"bad RRULE part {item!r}")
        if key in parts:
            raise RecurrenceError(f"RRULE repeats {key}")
        parts[key] = part
    name = parts.pop("FREQ", None)
    if name not in _FREQ_NAMES:
        raise RecurrenceError(f"FREQ must be one of {', '.join(_FREQ_NAMES)}")
    freq = _FREQ_NAMES.index(name)
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError("RRULE cannot have both COUNT and UNTIL")
    if "BYSETPOS" in parts and not any(k.startswith("BY") and k != "BYSETPOS" for k in parts):
        raise RecurrenceError("BYSETPOS needs another BYxxx part")
    # WKST defaults to Monday (RFC 5545), not to dateutil's process-wide setting.
    rule: dict[str, Any] = {"freq": freq, "wkst": 0}
    for key, part in parts.items():
        if name in _FORBIDDEN.get(key, ()):
            raise RecurrenceError(f"{key} cannot be used with FREQ={name}")
        if key in ("COUNT", "INTERVAL"):
            top = MAX_INTERVAL if key == "INTERVAL" else 10**9
            if not _COUNT.fullmatch(part) or not 1 <= int(part) <= top:
                raise RecurrenceError(f"{key} must be a whole number from 1 to {top}")
            rule[key.lower()] = int(part)
        elif key == "UNTIL":
            rule["until"] = _parse_until(part, zone)
        elif key == "WKST":
            if part not in _DAYS:
                raise RecurrenceError("WKST must be a day (MO..SU)")
            rule["wkst"] = _DAYS.index(part)
        elif key == "BYDAY":
            rule["byweekday"] = [
                _parse_day(item, freq, "BYWEEKNO" in parts) for item in part.split(",")
            ]
        elif key in _NUMBER_PARTS:
            rule[key.lower()] = [_parse_number(key, item) for item in part.split(",")]
        else:
            raise RecurrenceError(f"unknown RRULE part {key}")
    return rule


def _parse_number(key: str, text: str) -> int:
    low, high, signed = _NUMBER_PARTS[key]
    number = int(text) if _NUMBER.fullmatch(text) else None
    if number is None or (text[0] in "+-" and not signed) or not low <= abs(number) <= high:
        span = f"{low} to {high}" + (f" or -1 to -{high}" if signed else "")
        raise RecurrenceError(f"{key} values must be {span}")
    return number


def _parse_day(text: str, freq: int, with_weekno: bool) -> weekday:
    match = _BYDAY.fullmatch(text)
    if match is None:
        raise RecurrenceError(f"bad BYDAY value {text!r}")
    day = _DAYS.index(match[2])
    if match[1] is None:
        return weekday(day)
    ordinal = int(match[1])
    if not 1 <= abs(ordinal) <= 53:
        raise RecurrenceError("a BYDAY ordinal must be 1 to 53 or -1 to -53")
    if freq not in (MONTHLY, YEARLY) or with_weekno:
        raise RecurrenceError("a BYDAY ordinal needs FREQ=MONTHLY or YEARLY without BYWEEKNO")
    return weekday(day, ordinal)


def _parse_until(text: str, zone: ZoneInfo) -> datetime:
    # dateutil refuses a floating UNTIL with an aware DTSTART: every UNTIL becomes UTC.
    moment = _parse_moment(text, {}, zone)
    if isinstance(moment, datetime):
        return moment
    return datetime.combine(moment, time(23, 59, 59), tzinfo=zone).astimezone(UTC)


def _parse_moment(text: str, params: dict[str, str], zone: ZoneInfo) -> datetime | date:
    """A DATE as a date; a DATE-TIME as an aware UTC datetime."""
    kind = params.get("VALUE", "DATE-TIME").upper()
    if kind not in ("DATE", "DATE-TIME"):
        raise RecurrenceError(f"VALUE={kind} is not supported")
    local = zone if "TZID" not in params else load_zone(params["TZID"])
    if local is None:
        raise RecurrenceError(f"unknown TZID {params['TZID']!r}")
    try:
        if _DATE.fullmatch(text):
            return datetime.strptime(text, "%Y%m%d").date()
        match = _DATE_TIME.fullmatch(text)
        if kind == "DATE" or match is None:
            raise ValueError
        naive = datetime.strptime(match[1] + match[2], "%Y%m%d%H%M%S")
        if match[3]:
            if "TZID" in params:
                raise ValueError
            return naive.replace(tzinfo=UTC)
        return naive.replace(tzinfo=local).astimezone(UTC)
    except (ValueError, OverflowError):
        raise RecurrenceError(f"bad {kind} value {text!r}") from None


def _probe(rule: dict[str, Any], local: datetime) -> None:
    """Refuse a rule with no match within PROBE_YEARS, without scanning to year 9999.

    The Gregorian calendar repeats every 400 years, so the rule started 400*k years
    later meets the same days; starting it within 500 years of year 9999 bounds the
    scan dateutil makes for a rule that never matches (about 0.4 s at worst).
    """
    kwargs = {k: v for k, v in rule.items() if k not in ("count", "until")}
    naive = local.replace(tzinfo=None, microsecond=0)
    cycles = max(0, (datetime.max.year - PROBE_YEARS - naive.year) // 400)
    shifted = naive.replace(year=naive.year + 400 * cycles)
    try:
        first = next(iter(rrule(dtstart=shifted, **kwargs)), None)
    except ValueError:  # dateutil: "invalid combination of interval and byhour ..."
        first = None
    if first is None or first - shifted > timedelta(days=365.25 * PROBE_YEARS):
        raise RecurrenceError(f"the rule has no occurrence within {PROBE_YEARS} years")
