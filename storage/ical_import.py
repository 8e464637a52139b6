"""An RFC 5545 file as Tandem event documents, read with the `icalendar` package. Pure.

Each UID becomes one series: its VEVENT without RECURRENCE-ID is the event, those
with one become its overrides (a cancelled one, STATUS:CANCELLED, an EXDATE). What a
Tandem event cannot hold is refused, naming the VEVENT by its index among the file's
VEVENTs (0 first): RANGE=THISANDFUTURE, RDATE periods, no DTSTART, zero length, a
RECURRENCE-ID without its series or turning a timed occurrence all-day (or back).
Properties Tandem has no field for (attendees, alarms, status, categories, ...) are
ignored. Times become UTC; the zone is DTSTART's
TZID when it is an IANA name (a name IANA lacks is mapped as a Windows one), UTC for a
time in UTC (Z: RFC 5545 expands its rules in UTC, whatever the calendar displays),
else the calendar's X-WR-TIMEZONE, else UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, vRecur
from icalendar.timezone import tzid_from_tzinfo
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from storage.document import DEFAULTS, build_document, format_time
from storage.errors import ErrorCode, TandemError, validation_error
from storage.ical_export import rfc_until
from storage.overrides import differences, without_orphans
from storage.recurrence_rules import load_zone, parse_recurrence

# A VEVENT as icalendar parsed it. Its properties are typed by name at run time
# (vDDDTypes for DTSTART, vRecur for RRULE, ...), which no static type can follow.
VEvent = Any

MAX_SERIES = 500
MAX_UID = 255
UNTITLED = "Untitled"


@dataclass(frozen=True)
class ImportedSeries:
    uid: str
    document: dict[str, Any]


class _Refused(Exception):
    """One VEVENT cannot be imported: the fields (properties) and why."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(str(fields))
        self.fields = fields


class _RefusedAt(Exception):
    """A VEVENT other than the series' own (an override) cannot be imported."""

    def __init__(self, index: int, fields: dict[str, str]) -> None:
        super().__init__(str(fields))
        self.index = index
        self.fields = fields


def parse_calendar(data: bytes) -> list[ImportedSeries]:
    """Every series of the file, all valid, or a validation_error saying what is not.

    A file that does not parse is `details.fields.body`; VEVENTs Tandem cannot take
    are `details.errors` by VEVENT index, each `{fields: {PROPERTY: why}}`.
    """
    calendar = _read(data)
    default_zone = _calendar_zone(calendar)
    vevents = calendar.walk("VEVENT")
    masters: dict[str, tuple[int, VEvent]] = {}
    exceptions: dict[str, list[tuple[int, VEvent]]] = {}
    errors: dict[str, dict[str, Any]] = {}
    for index, vevent in enumerate(vevents):
        problems = {name: f"cannot be read: {why}" for name, why in _broken(vevent)}
        uid = str(vevent.get("UID", "")).strip()
        if not uid or len(uid) > MAX_UID:
            problems["UID"] = f"is required, at most {MAX_UID} characters"
        if problems:
            errors[str(index)] = {"fields": problems}
        elif "RECURRENCE-ID" in vevent:
            exceptions.setdefault(uid, []).append((index, vevent))
        elif uid in masters:
            errors[str(index)] = {
                "fields": {"UID": "two VEVENTs of one series without RECURRENCE-ID"}
            }
        else:
            masters[uid] = (index, vevent)
    for uid, found in exceptions.items():
        if uid not in masters:
            for index, _ in found:
                errors[str(index)] = {"fields": {"RECURRENCE-ID": "its series is not in the file"}}
    if len(masters) > MAX_SERIES:
        raise validation_error({"body": f"at most {MAX_SERIES} series in one import"})
    series = []
    for uid, (index, vevent) in masters.items():
        try:
            series.append(
                ImportedSeries(uid, _series(vevent, exceptions.get(uid, []), default_zone))
            )
        except _Refused as refused:
            errors[str(index)] = {"fields": refused.fields}
        except _RefusedAt as refused:
            errors[str(refused.index)] = {"fields": refused.fields}
    if errors:
        ordered = dict(sorted(errors.items(), key=lambda item: int(item[0])))
        raise TandemError(
            ErrorCode.VALIDATION_ERROR,
            f"{len(errors)} VEVENT(s) cannot be imported",
            {"errors": ordered},
        )
    return series


def reimported(current: dict[str, Any], imported: dict[str, Any]) -> dict[str, Any]:
    """`imported` as it replaces `current`, the stored event of its UID: the metadata of
    the event and of each override it keeps stay (iCalendar has no form for them), and
    so do the stored recurrence lines when the imported ones mean the same (an export
    writes them its own way: RRULE parts in its order, dates in the event's zone), so
    that re-importing an unchanged export changes nothing."""
    overrides = {
        key: {**value, "metadata": current["overrides"][key]["metadata"]}
        if "metadata" in current["overrides"].get(key, {})
        else value
        for key, value in imported["overrides"].items()
    }
    same = _meaning(current) == _meaning(imported)
    return {
        **imported,
        "metadata": current["metadata"],
        "overrides": overrides,
        "recurrence": current["recurrence"] if same else imported["recurrence"],
    }


def _meaning(document: dict[str, Any]) -> tuple[Any, ...]:
    """What a document's recurrence lines say, whatever their order and spelling."""
    zone = load_zone(document["timezone"])
    assert zone is not None  # a stored or built document
    rec = parse_recurrence(document["recurrence"], zone)
    return (
        document["timezone"],  # floating dates and rules are read in the zone
        sorted(repr(sorted(rule.items())) for rule in rec.rules),
        sorted(rec.rdates),
        sorted(rec.rdays),
        sorted(rec.exdates),
        rec.exdays,
    )


def _read(data: bytes) -> Calendar:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise validation_error({"body": "must be UTF-8 text"}) from None
    if "\x00" in text:
        raise validation_error({"body": "must not contain U+0000 (NUL)"})
    try:
        calendar = Calendar.from_ical(text)
    except ValueError as exc:
        raise validation_error({"body": f"is not an iCalendar file: {exc}"}) from None
    if not isinstance(calendar, Calendar) or calendar.name != "VCALENDAR":
        raise validation_error({"body": "must be one VCALENDAR"})
    return calendar


def _broken(vevent: VEvent) -> list[tuple[str, str]]:
    """The properties icalendar could not read (it keeps going, and records them)."""
    return [(str(name), str(why)) for name, why in getattr(vevent, "errors", [])]


def _calendar_zone(calendar: Calendar) -> str:
    name = str(calendar.get("X-WR-TIMEZONE", "UTC"))
    return name if load_zone(name) is not None else "UTC"


def _zone_name(moment: datetime | date, params: Any, default: str) -> str:
    """The IANA zone a DTSTART is written in; `default` for a DATE or floating time."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        return default
    for candidate in (params.get("TZID"), tzid_from_tzinfo(moment.tzinfo)):
        if candidate is None:
            continue
        name = str(candidate)
        if load_zone(name) is None:  # "UTC" is both: only a name IANA lacks is Windows'
            name = WINDOWS_TO_OLSON.get(name, name)
        if load_zone(name) is not None:
            return name
    return "UTC" if moment.utcoffset() == timedelta(0) else default


def _utc(moment: datetime | date, zone: tzinfo) -> datetime:
    """A DTSTART-like value in UTC: a DATE is local midnight, a floating time local."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _times(vevent: VEvent, zone: tzinfo) -> tuple[datetime | date, datetime, datetime]:
    """(DTSTART as written, start, end) in UTC; DTEND, else DURATION, else RFC 5545's default."""
    if "DTSTART" not in vevent:
        raise _Refused({"DTSTART": "is required"})
    written = vevent["DTSTART"].dt
    start = _utc(written, zone)
    if "DTEND" in vevent:
        end = _utc(vevent["DTEND"].dt, zone)
    elif "DURATION" in vevent:
        end = start + vevent["DURATION"].dt
    else:
        # RFC 5545 3.6.1: a DATE lasts the day; a DATE-TIME ends when it starts.
        end = start + (timedelta(days=1) if not isinstance(written, datetime) else timedelta(0))
    if end <= start:
        raise _Refused({"DTEND": "must be after DTSTART (Tandem events have a length)"})
    return written, start, end


def _text(vevent: VEvent, name: str) -> str | None:
    value = vevent.get(name)
    return None if value is None else str(value)


def _series(
    vevent: VEvent, exceptions: list[tuple[int, VEvent]], default_zone: str
) -> dict[str, Any]:
    written = vevent.get("DTSTART")
    if written is None:
        raise _Refused({"DTSTART": "is required"})
    zone_name = _zone_name(written.dt, written.params, default_zone)
    zone = load_zone(zone_name)
    assert zone is not None
    _, start, end = _times(vevent, zone)
    all_day = not isinstance(written.dt, datetime)
    recurrence = _recurrence_lines(vevent, zone, all_day)
    overrides: dict[str, Any] = {}
    indexes: dict[str, int] = {}
    fields = {
        "title": (_text(vevent, "SUMMARY") or "").strip() or UNTITLED,
        "description": _text(vevent, "DESCRIPTION") or DEFAULTS["description"],
        "location": _text(vevent, "LOCATION"),
    }
    for index, exception in exceptions:
        rid = exception["RECURRENCE-ID"]
        if str(rid.params.get("RANGE", "")).upper() == "THISANDFUTURE":
            raise _RefusedAt(index, {"RECURRENCE-ID": "RANGE=THISANDFUTURE is not supported"})
        # A date-time RECURRENCE-ID of an all-day series (Exchange writes them) names
        # the day it falls on where it was written.
        original = rid.dt.date() if all_day and isinstance(rid.dt, datetime) else rid.dt
        key = format_time(_utc(original, zone))
        if str(exception.get("STATUS", "")).upper() == "CANCELLED":
            recurrence.append(f"EXDATE:{_utc(original, zone):%Y%m%dT%H%M%SZ}")
            continue
        try:
            written_at, occ_start, occ_end = _times(exception, zone)
        except _Refused as refused:
            raise _RefusedAt(index, refused.fields) from None
        if isinstance(written_at, datetime) == all_day:
            # An override changes times, never whether the event is all-day.
            raise _RefusedAt(index, {"DTSTART": "must be a DATE exactly when its series' is"})
        indexes[key] = index
        overrides[key] = {
            "title": (_text(exception, "SUMMARY") or "").strip() or UNTITLED,
            "description": _text(exception, "DESCRIPTION") or "",
            "location": _text(exception, "LOCATION"),
            "start_time": format_time(occ_start),
            "end_time": format_time(occ_end),
        }
    document: dict[str, Any] = {
        **fields,
        "start_time": format_time(start),
        "end_time": format_time(end),
        "timezone": zone_name,
        "all_day": all_day,
        "recurrence": recurrence,
        "overrides": {},
    }
    try:
        series = build_document(document)
    except TandemError as error:
        raise _Refused(_properties(error.details.get("fields", {}))) from None
    return _with_overrides(series, overrides, indexes)


def _with_overrides(
    series: dict[str, Any], overrides: dict[str, Any], indexes: dict[str, int]
) -> dict[str, Any]:
    """The series with each override reduced to how it differs from it."""
    kept = without_orphans({**series, "overrides": overrides})["overrides"]
    for key in overrides.keys() - kept.keys():
        raise _RefusedAt(indexes[key], {"RECURRENCE-ID": "is not an occurrence of its series"})
    reduced = {key: differences(series, key, fields) for key, fields in kept.items()}
    try:
        return build_document({**series, "overrides": reduced})
    except TandemError as error:
        problems: dict[str, str] = error.details.get("fields", {})
        # An override's problems name its own VEVENT (the first in the file, when
        # several have some); the others (too many overrides) the series'.
        own: dict[int, dict[str, str]] = {}
        for pointer, why in problems.items():
            key, _, name = pointer.partition("/")[2].partition("/")  # overrides/<key>/<name>
            if key in indexes:
                own.setdefault(indexes[key], {})[name or "RECURRENCE-ID"] = why
        if own:
            index = min(own)
            raise _RefusedAt(index, _properties(own[index])) from None
        raise _Refused(_properties(problems)) from None


_PROPERTY_OF_FIELD = {
    "title": "SUMMARY",
    "description": "DESCRIPTION",
    "location": "LOCATION",
    "start_time": "DTSTART",
    "end_time": "DTEND",
    "timezone": "DTSTART",
    "recurrence": "RRULE",
    "overrides": "RECURRENCE-ID",
}


def _properties(fields: dict[str, str]) -> dict[str, str]:
    """Document problems named by the iCalendar property they came from."""
    return {_PROPERTY_OF_FIELD.get(name, name): why for name, why in fields.items()}


def _rule_line(rule: vRecur, zone: ZoneInfo, all_day: bool) -> str:
    """The RRULE line, its UNTIL written as an export writes it (so that importing our
    own export finds nothing changed); a floating UNTIL is local to the event's zone."""
    line = f"RRULE:{rule.to_ical().decode()}"
    if "UNTIL" not in rule:
        return line
    until = parse_recurrence([line], zone).rules[0]["until"]
    rule = vRecur(rule)
    rule["UNTIL"] = [rfc_until(until, zone, all_day)]
    return f"RRULE:{rule.to_ical().decode()}"


def _recurrence_lines(vevent: VEvent, zone: ZoneInfo, all_day: bool) -> list[str]:
    lines = [_rule_line(rule, zone, all_day) for rule in _all(vevent, "RRULE")]
    for name in ("RDATE", "EXDATE"):
        for values in _all(vevent, name):
            texts = []
            for value in values.dts:
                moment = value.dt
                if isinstance(moment, tuple):
                    raise _Refused({name: "PERIOD values are not supported"})
                if isinstance(moment, datetime):
                    texts.append(f"{_utc(moment, zone):%Y%m%dT%H%M%SZ}")
                else:
                    texts.append(f"{moment:%Y%m%d}")
            dated = [t for t in texts if "T" not in t]
            if dated:
                lines.append(f"{name};VALUE=DATE:{','.join(dated)}")
            if len(dated) < len(texts):
                lines.append(f"{name}:{','.join(t for t in texts if 'T' in t)}")
    return lines


def _all(vevent: VEvent, name: str) -> list[Any]:
    value = vevent.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
