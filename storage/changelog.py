"""One human sentence per version, for the changelog endpoint.

Pure and deterministic: English names are spelled out here instead of using
`strftime("%A")`, which follows the process locale. Times are shown in the event's
time zone (the one in force after the change), as the people editing it see them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from storage.document import DOCUMENT_FIELDS

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Parts of a sentence are (past-tense verb, object); a rollback uses the gerund.
_GERUNDS = {
    "added": "adding",
    "changed": "changing",
    "cleared": "clearing",
    "made": "making",
    "moved": "moving",
    "removed": "removing",
    "renamed": "renaming",
    "cancelled": "cancelling",
    "restored": "restoring",
}

_DASH = "\u2013"  # an en dash, as typography wants in a range of times
_ORDER = {field: position for position, field in enumerate(DOCUMENT_FIELDS)}

Part = tuple[str, str]


def _zone(name: str) -> tuple[ZoneInfo, str]:
    try:
        return ZoneInfo(name), name
    except (ValueError, LookupError):  # an unknown or malformed name: show UTC
        return ZoneInfo("UTC"), "UTC"


def _local(value: Any, zone: ZoneInfo) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def _date(moment: datetime) -> str:
    return f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _when(start: datetime, end: datetime | None, zone_name: str) -> str:
    """'Tuesday 3 March 2026 at 10:30<en dash>11:30 (Europe/Paris)', or across two days."""
    text = f"{_date(start)} at {start:%H:%M}"
    if end is not None and end.date() == start.date():
        text += f"{_DASH}{end:%H:%M}"
    elif end is not None:
        text += f" {_DASH} {_date(end)} at {end:%H:%M}"
    return f"{text} ({zone_name})"


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else "nothing" if value is None else str(value)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _render(parts: list[Part], *, gerund: bool) -> str:
    """Join the parts, saying a verb once for a run of parts that share it."""
    items, previous = [], None
    for verb, thing in parts:
        word = _GERUNDS.get(verb, verb) if gerund else verb
        items.append(thing if verb == previous else f"{word} {thing}")
        previous = verb
    return _join(items)


def _field_changes(changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Whole-field changes by field name (metadata leaves are counted separately)."""
    return {c["field"]: c for c in changes if c.get("path") == "/" + str(c.get("field"))}


def _time_part(fields: dict[str, dict[str, Any]], zone: ZoneInfo, zone_name: str) -> Part:
    start = _local(fields["start_time"]["new_value"], zone) if "start_time" in fields else None
    end = _local(fields["end_time"]["new_value"], zone) if "end_time" in fields else None
    if start is not None:
        return ("moved", f"the {'event' if end else 'start'} to {_when(start, end, zone_name)}")
    if end is not None:
        return ("moved", f"the end to {_when(end, None, zone_name)}")
    return ("changed", "the time")  # unparseable times: say something true


def _metadata_part(leaves: list[dict[str, Any]]) -> Part | None:
    if not leaves:
        return None
    if len(leaves) > 1:
        return ("changed", f"{len(leaves)} metadata keys")
    leaf = leaves[0]
    key = str(leaf.get("path", "")).removeprefix("/metadata").removeprefix("/")
    verb = {"added": "added", "removed": "removed"}.get(leaf.get("change_type", ""), "changed")
    return (verb, f'the metadata key "{key}"' if key else "the metadata")


def _recurrence_part(old: Any, new: Any, zone: ZoneInfo) -> Part:
    cancelled = _cancelled_day(old, new, zone)
    if cancelled is not None:
        return ("cancelled", f"the {cancelled} occurrence")
    if not new:
        return ("removed", "the recurrence")
    return ("added", "a recurrence") if not old else ("changed", "the recurrence")


def _parts(changes: list[dict[str, Any]], zone: ZoneInfo, zone_name: str) -> list[Part]:
    """The sentence parts in document field order; start and end make one part."""
    fields = _field_changes(changes)
    parts: list[Part] = []
    for field in sorted(fields, key=lambda f: (_ORDER.get(f, len(_ORDER)), f)):
        old, new = fields[field].get("old_value"), fields[field].get("new_value")
        if field == "title":
            parts.append(("changed", f"the title from {_quote(old)} to {_quote(new)}"))
        elif field == "description":
            parts.append(("changed", "the description") if new else ("cleared", "the description"))
        elif field == "location":
            parts.append(
                ("changed", f"the location to {_quote(new)}")
                if new
                else ("removed", "the location")
            )
        elif field == "start_time" or (field == "end_time" and "start_time" not in fields):
            parts.append(_time_part(fields, zone, zone_name))
        elif field == "timezone":
            parts.append(
                (
                    "changed",
                    f"the time zone from {old} to {new}" if old else f"the time zone to {new}",
                )
            )
        elif field == "all_day":
            parts.append(("made", "the event all-day" if new else "the event no longer all-day"))
        elif field == "recurrence":
            parts.append(_recurrence_part(old, new, zone))
        elif field not in ("metadata", "end_time"):
            parts.append(("changed", f"the {field.replace('_', ' ')}"))
    metadata = _metadata_part([c for c in changes if c.get("field") == "metadata"])
    overridden = [c for c in changes if c.get("field") == "overrides"]
    recurrence = fields.get("recurrence", {})
    cancelled = _cancelled_day(recurrence.get("old_value"), recurrence.get("new_value"), zone)
    return parts + ([metadata] if metadata else []) + _override_parts(overridden, zone, cancelled)


def _day_month(moment: datetime) -> str:
    return f"{moment.day} {_MONTHS[moment.month - 1]}"


def _cancelled_day(old: Any, new: Any, zone: ZoneInfo) -> str | None:
    """'9 March' when the only change is one EXDATE line added (a cancelled occurrence)."""
    if not isinstance(old, list) or not isinstance(new, list) or new[:-1] != old or not new:
        return None
    line = new[-1]
    if not isinstance(line, str) or not line.upper().startswith("EXDATE:"):
        return None
    value = line.partition(":")[2]
    for form in ("%Y%m%dT%H%M%SZ", "%Y%m%d"):
        try:
            moment = datetime.strptime(value, form)
        except ValueError:
            continue
        local = moment.replace(tzinfo=UTC).astimezone(zone) if "T" in form else moment
        return _day_month(local)
    return None


def _override_parts(
    changes: list[dict[str, Any]], zone: ZoneInfo, cancelled: str | None
) -> list[Part]:
    """One part per occurrence whose override changed ('moved the 16 March occurrence
    to Tuesday 13:00'), in occurrence order. The override of an occurrence cancelled
    (on day `cancelled`) goes with it: that is no restore."""
    by_occurrence: dict[str, dict[str, dict[str, Any]]] = {}
    for change in changes:
        tokens = str(change.get("path", "")).split("/")
        if len(tokens) >= 3:
            field = tokens[3] if len(tokens) > 3 else ""
            by_occurrence.setdefault(tokens[2], {})[field] = change
    parts: list[Part] = []
    for key in sorted(by_occurrence):
        original = _local(key, zone)
        if original is None:
            continue
        fields, name = by_occurrence[key], f"the {_day_month(original)} occurrence"
        start = fields.get("start_time", {}).get("new_value")
        moved_to = _local(start, zone)
        title = fields.get("title", {}).get("new_value")
        if moved_to is not None:
            near = abs((moved_to.date() - original.date()).days) < 7
            when = f"{_DAYS[moved_to.weekday()]}" if near else _date(moved_to)
            parts.append(("moved", f"{name} to {when} {moved_to:%H:%M}"))
        elif isinstance(title, str):
            parts.append(("renamed", f"{name} to {_quote(title)}"))
        elif all(c.get("change_type") == "removed" for c in fields.values()):
            if _day_month(original) != cancelled:
                parts.append(("restored", name))
        else:
            parts.append(("changed", name))
    return parts


def _created(author: str, changes: list[dict[str, Any]], zone: ZoneInfo, zone_name: str) -> str:
    fields = _field_changes(changes)
    new = {field: change.get("new_value") for field, change in fields.items()}
    title = new.get("title")
    sentence = f"{author} created the event" + (f" {_quote(title)}" if title else "")
    start = _local(new.get("start_time"), zone)
    if start is not None and new.get("all_day") is True:
        sentence += f" on {_date(start)}, all day ({zone_name})"
    elif start is not None:
        sentence += f" on {_when(start, None, zone_name)}"
    return sentence + "."


def summarize(author: str, origin: str, changes: list[dict[str, Any]], timezone: str) -> str:
    """One sentence for a changelog entry, e.g. 'alice renamed the event from "A" to "B".'

    `changes` is the contract's list (storage.patch_diff.diff_documents); `timezone` is
    the event's zone after the change. Deterministic for equal inputs.
    """
    zone, zone_name = _zone(timezone)
    if origin == "create":
        return _created(author, changes, zone, zone_name)
    parts = _parts(changes, zone, zone_name)
    if origin == "rollback":
        if not parts:
            return f"{author} rolled the event back without changing anything."
        return f"{author} rolled the event back, {_render(parts, gerund=True)}."
    if not parts:
        return f"{author} made no changes."
    if len(parts) == 1 and parts[0][1].startswith("the title from "):
        return f"{author} renamed the event {parts[0][1].removeprefix('the title ')}."
    return f"{author} {_render(parts, gerund=False)}."
