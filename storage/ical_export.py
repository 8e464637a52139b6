"""Events as an RFC 5545 VCALENDAR, written with the `icalendar` package. Pure: no I/O.

The mapping (PROTOCOL.md v1.1, "iCalendar"): title SUMMARY, description DESCRIPTION,
location LOCATION, start and end DTSTART/DTEND in the event's zone (TZID with its
VTIMEZONE; UTC as `Z`; `all_day` as VALUE=DATE), the recurrence lines, each override
a VEVENT with the same UID and a RECURRENCE-ID, SEQUENCE `version - 1`,
LAST-MODIFIED and DTSTAMP `updated_at`.

The recurrence lines keep their rules and dates; what Tandem reads in the event's
zone but RFC 5545 would read otherwise is written out explicitly: UNTIL in UTC (or as
a DATE for an all-day event), RDATE and EXDATE in the event's zone, as DATEs for an
all-day event and as date-times at the start's clock time otherwise.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vRecur

from storage.document import parse_time
from storage.overrides import SHOWN_FIELDS
from storage.records import EventRecord
from storage.recurrence import occurrence_end
from storage.recurrence_rules import load_zone, parse_recurrence

PRODUCT = "-//Tandem//Tandem calendar//EN"
MEDIA_TYPE = "text/calendar; charset=utf-8"
# VTIMEZONE definitions cover these years; occurrences outside them still carry the
# IANA TZID, which every calendar application resolves itself.
# RFC 5545 CONTROL: %x00-08 / %x0A-1F / %x7F, less CR and LF (escaped as \n).
_CONTROL = dict.fromkeys([*range(0x09), *range(0x0B, 0x0D), *range(0x0E, 0x20), 0x7F])
_ZONE_YEARS = (date(1970, 1, 1), date(2100, 1, 1))


def calendar_bytes(records: Iterable[EventRecord]) -> bytes:
    """One VCALENDAR holding every event given, CRLF line ends, folded at 75 octets."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    records = list(records)
    # A DATE has no zone: this (Google's) property keeps the zone of all-day events,
    # so an import of this file puts them on the same days.
    zones = Counter(r.document["timezone"] for r in records if r.document["all_day"])
    if zones:
        calendar.add("x-wr-timezone", zones.most_common(1)[0][0])
    for record in records:
        for component in event_components(record):
            calendar.add_component(component)
    calendar.add_missing_timezones(*_ZONE_YEARS)
    return calendar.to_ical()


def event_components(record: EventRecord) -> list[Event]:
    """The VEVENT of the series, then one per override."""
    doc = record.document
    zone = load_zone(doc["timezone"])
    assert zone is not None, "a stored document has a valid zone"
    start, end = parse_time(doc["start_time"]), parse_time(doc["end_time"])
    assert start is not None and end is not None
    all_day = doc["all_day"]
    master = _vevent(record, doc, start, end, zone, all_day)
    for line in doc["recurrence"]:
        _add_line(master, line, start, zone, all_day)
    components = [master]
    for key, override in doc["overrides"].items():
        original = parse_time(key)
        assert original is not None
        fields = {**doc, **{name: override[name] for name in SHOWN_FIELDS if name in override}}
        occ_start = parse_time(override.get("start_time")) or original
        occ_end = parse_time(override.get("end_time")) or occurrence_end(
            start, end, doc["timezone"], original
        )
        component = _vevent(record, fields, occ_start, occ_end, zone, all_day)
        component.add("recurrence-id", _moment(original, zone, all_day))
        components.append(component)
    return components


def _vevent(
    record: EventRecord,
    fields: dict[str, Any],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    all_day: bool,
) -> Event:
    component = Event()
    component.add("uid", record.uid)
    component.add("dtstamp", record.updated_at.astimezone(UTC))
    component.add("last-modified", record.updated_at.astimezone(UTC))
    component.add("sequence", record.version - 1)
    component.add("summary", _text(fields["title"]))
    if fields["description"]:
        component.add("description", _text(fields["description"]))
    if fields["location"] is not None:
        component.add("location", _text(fields["location"]))
    component.add("dtstart", _moment(start, zone, all_day))
    component.add("dtend", _moment(end, zone, all_day))
    return component


def _text(value: str) -> str:
    """The value without the control characters RFC 5545 forbids in TEXT (3.3.11);
    icalendar escapes line breaks, and a tab is allowed."""
    return value.translate(_CONTROL)


def rfc_until(until: datetime, zone: ZoneInfo, all_day: bool) -> datetime | date:
    """UNTIL as RFC 5545 wants it: UTC when DTSTART has a zone, a DATE when it is one."""
    return until.astimezone(zone).date() if all_day else until.astimezone(UTC)


def _moment(moment: datetime, zone: ZoneInfo, all_day: bool) -> datetime | date:
    """A time as written: a local DATE (all-day), `Z` in UTC, else local with its TZID."""
    local = moment.astimezone(zone)
    if all_day:
        return local.date()
    return moment.astimezone(UTC) if zone.key == "UTC" else local


def _add_line(component: Event, line: str, start: datetime, zone: ZoneInfo, all_day: bool) -> None:
    name, _, value = line.partition(":")
    name = name.partition(";")[0].upper()
    parsed = parse_recurrence([line], zone)
    if name == "RRULE":
        rule = vRecur.from_ical(value)
        until = parsed.rules[0].get("until")
        if until is not None:
            rule["UNTIL"] = [rfc_until(until, zone, all_day)]
        component.add("rrule", rule)
        return
    clock = start.astimezone(zone).time().replace(tzinfo=None)
    moments = [_moment(m, zone, all_day) for m in parsed.rdates + parsed.exdates]
    days = [*parsed.rdays, *sorted(parsed.exdays)]
    moments += [d if all_day else _on_day(d, clock, zone) for d in days]
    component.add(name.lower(), moments)


def _on_day(day: date, clock: time, zone: ZoneInfo) -> datetime:
    local = datetime.combine(day, clock, tzinfo=zone)
    return local.astimezone(UTC) if zone.key == "UTC" else local


def etag_of(body: bytes) -> str:
    """A strong ETag for an exported calendar: it changes exactly when the bytes do."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
