"""Splitting a series at one occurrence ("this and following"). Pure: no I/O.

The old series keeps what comes before the occurrence; the new one starts at it. Each
RRULE of the old series ends with an UNTIL one second before the occurrence (RFC 5545
rules work to the second); a COUNT rule that still had occurrences left gives the new
series the rest of its COUNT. RDATE and EXDATE values, and overrides, go to whichever
series their time belongs to.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.rrule import rrule

from storage.document import build_document, format_time, parse_time
from storage.errors import validation_error
from storage.overrides import without_orphans
from storage.recurrence import event_bounds, occurrence_end, starts_among
from storage.recurrence_rules import load_zone, parse_recurrence
from storage.recurrence_skip import MAX_SCAN

_UTC_FORMAT = "%Y%m%dT%H%M%SZ"


def split_series(
    document: dict[str, Any], occurrence_id: str, changes: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the old series ended before `occurrence_id`, the new series from it with `changes`).

    validation_error when the id is not an occurrence, or is the first one.
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
    if moment <= event_bounds(document)[0]:
        raise validation_error(
            {"occurrence_id": "is the first occurrence: change the whole series instead"}
        )
    zone = load_zone(zone_name)
    assert zone is not None
    local_day = moment.astimezone(zone).date()
    before: list[str] = []
    after: list[str] = []
    for line in lines:
        name = line.partition(":")[0].partition(";")[0].upper()
        if name == "RRULE":
            old_rule, new_rule = _split_rule(line, start, moment, zone)
            before.append(old_rule)
            if new_rule is not None:
                after.append(new_rule)
        else:
            old_values, new_values = _split_dates(line, moment, local_day, zone)
            before.extend(old_values)
            after.extend(new_values)
    overrides = document["overrides"]
    old = {
        **document,
        "recurrence": before,
        "overrides": {k: v for k, v in overrides.items() if (parse_time(k) or moment) < moment},
    }
    new = {
        **document,
        "start_time": occurrence_id,
        "end_time": format_time(occurrence_end(start, end, zone_name, moment)),
        "recurrence": after,
        "overrides": {k: v for k, v in overrides.items() if k not in old["overrides"]},
    }
    merged = {**new, **changes}
    if "overrides" not in changes:
        merged = without_orphans(merged)
    return build_document(old), build_document(merged, base=new)


def _split_rule(line: str, start: datetime, moment: datetime, zone: Any) -> tuple[str, str | None]:
    """The rule for the old series, and the rest of it for the new one (None: none left)."""
    rule = parse_recurrence([line], zone).rules[0]
    head, _, value = line.partition(":")
    parts = [p for p in value.split(";") if p.split("=")[0].upper() not in ("COUNT", "UNTIL")]
    until = (moment - timedelta(seconds=1)).astimezone(UTC)
    ended = f"{head}:{';'.join([*parts, f'UNTIL={until:{_UTC_FORMAT}}'])}"
    if "until" in rule:
        return (line, None) if rule["until"] < moment else (ended, line)
    if "count" not in rule:
        return ended, line
    local = start.astimezone(zone).replace(microsecond=0)
    used = 0
    for used, match in enumerate(rrule(dtstart=local, **rule)):
        if match >= moment or used >= MAX_SCAN:
            break
    else:
        used = rule["count"]
    left = rule["count"] - used
    if left <= 0:
        return line, None
    return ended, f"{head}:{';'.join([*parts, f'COUNT={left}'])}"


def _split_dates(
    line: str, moment: datetime, local_day: date, zone: Any
) -> tuple[list[str], list[str]]:
    """An RDATE or EXDATE line as the values before the moment and those from it on."""
    head, _, value = line.partition(":")
    before: list[str] = []
    after: list[str] = []
    for text in value.split(","):
        parsed = parse_recurrence([f"{head}:{text.strip()}"], zone)
        moments = parsed.rdates + parsed.exdates
        days = parsed.rdays + sorted(parsed.exdays)
        earlier = moments[0] < moment if moments else days[0] < local_day
        (before if earlier else after).append(text)
    return (
        [f"{head}:{','.join(before)}"] if before else [],
        [f"{head}:{','.join(after)}"] if after else [],
    )
