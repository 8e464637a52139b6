"""The event document of the wire contract: its fields, their rules, its canonical form.

Every write (create, PUT, JSON Patch, rollback) ends in one of build_document or
check_document, so a stored document is always valid and canonical: every field
present in DOCUMENT_FIELDS order, times in UTC with `Z`. Canonical documents compare
equal exactly when they mean the same event, which is how "no change, no version"
is decided. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import msgspec

from storage.errors import ErrorCode, TandemError, validation_error
from storage.json_values import json_copy
from storage.recurrence_rules import load_zone, recurrence_problem

# The nine fields, in their canonical order (stored documents, diffs and changelogs
# follow it); the one list of them.
DOCUMENT_FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "location",
    "start_time",
    "end_time",
    "timezone",
    "all_day",
    "recurrence",
    "metadata",
    "overrides",
)
REQUIRED_FIELDS: tuple[str, ...] = ("title", "start_time", "end_time")
# Read-only so no caller can change the defaults of every later event; the mutable
# values inside are deep-copied whenever they are used.
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "description": "",
        "location": None,
        "timezone": "UTC",
        "all_day": False,
        "recurrence": [],
        "metadata": {},
        "overrides": {},
    }
)
# What an override may replace for its one occurrence (PROTOCOL.md v1.1).
OVERRIDE_FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "location",
    "start_time",
    "end_time",
    "metadata",
)
MAX_OVERRIDES = 1000
NOT_AN_OCCURRENCE = "is not an occurrence of the series (its UTC start, like 2026-03-16T08:00:00Z)"
MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_LOCATION = 500
# Measured on the compact UTF-8 JSON encoding, the form the server stores and sends.
MAX_METADATA_BYTES = 16 * 1024
# Deeper metadata is refused before encoding: recursion would fail first, not the size.
MAX_METADATA_DEPTH = 64

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def escape(token: str) -> str:
    """RFC 6901 escaping of one reference token ("~" first, so "~1" stays unambiguous)."""
    return token.replace("~", "~0").replace("/", "~1")


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 time with an offset as an aware UTC datetime; None for anything else.

    A time without an offset is refused rather than guessed: its meaning would depend
    on a zone the client never named. Digits past microseconds are dropped.
    """
    if not isinstance(value, str):
        return None
    return _parse_rfc3339(value)


# Every edit parses the same few times several times (validation, columns, bounds):
# datetimes are immutable, so a bounded cache answers the repeats.
@lru_cache(maxsize=4096)
def _parse_rfc3339(value: str) -> datetime | None:
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    micro = int((match[7] or "0")[:6].ljust(6, "0"))
    try:
        offset = timedelta(0)
        if not match[8]:
            if int(match[10]) > 23 or int(match[11]) > 59:
                return None
            offset = timedelta(hours=int(match[10]), minutes=int(match[11]))
            offset = -offset if match[9] == "-" else offset
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset))
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # 30 February, 25:00, past year 9999 in UTC...
        return None


def format_time(dt: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` in UTC, with `.ffffff` only when there are microseconds."""
    if dt.tzinfo is None:
        raise RuntimeError("format_time needs an aware datetime")
    dt = dt.astimezone(UTC)
    # Not strftime: %Y does not pad years before 1000 on every platform.
    text = (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    )
    return f"{text}.{dt.microsecond:06d}Z" if dt.microsecond else f"{text}Z"


def document_problems(doc: object) -> dict[str, str]:
    """Every bad field of a full document, by name, with a short reason; {} when valid."""
    if not isinstance(doc, dict):
        return {"document": "must be a JSON object"}
    problems: dict[str, str] = {}
    for key in doc:
        if key not in DOCUMENT_FIELDS:
            problems[str(key)] = "unknown field"
    for name in DOCUMENT_FIELDS:
        if name not in doc:
            problems[name] = "is required"
            continue
        problem = _FIELD_CHECKS[name](doc[name])
        if problem is not None:
            problems[name] = problem
    start, end = parse_time(doc.get("start_time")), parse_time(doc.get("end_time"))
    if start is not None and end is not None and end <= start:
        problems["end_time"] = "must be after start_time"
    # Lines are only meaningful against a valid start and zone; without them the
    # field's own shape was checked above.
    if start is not None and "timezone" not in problems and "recurrence" not in problems:
        problem = recurrence_problem(doc["recurrence"], start, doc["timezone"])
        if problem is not None:
            problems["recurrence"] = problem
        elif end is not None and "overrides" not in problems and end > start:
            problems.update(_override_problems(doc, start, end))
    return problems


def _override_problems(doc: dict[str, Any], start: datetime, end: datetime) -> dict[str, str]:
    """Each bad override, keyed by its pointer (`overrides/<id>/end_time`)."""
    overrides: dict[str, Any] = doc["overrides"]
    if not overrides:
        return {}
    if not doc["recurrence"]:
        return {"overrides": "a non-recurring event has no overrides"}
    if len(overrides) > MAX_OVERRIDES:
        return {"overrides": f"at most {MAX_OVERRIDES} overrides"}
    # Imported here: storage.recurrence reads documents (parse_time) itself.
    from storage.recurrence import occurrence_end, starts_among

    ids = {key: parse_time(key) for key in overrides}
    moments = [m for key, m in ids.items() if m is not None and format_time(m) == key]
    real = starts_among(start, end, doc["timezone"], doc["recurrence"], moments)
    problems: dict[str, str] = {}
    for key, value in overrides.items():
        pointer = "overrides/" + escape(key)
        moment = ids[key]
        if moment not in real or format_time(moment) != key:
            problems[pointer] = NOT_AN_OCCURRENCE
        elif not isinstance(value, dict):
            problems[pointer] = "must be a JSON object"
        else:
            original_end = occurrence_end(start, end, doc["timezone"], moment)
            problems.update(_override_value_problems(pointer, value, moment, original_end))
    return problems


def _override_value_problems(
    pointer: str, value: dict[str, Any], start: datetime, end: datetime
) -> dict[str, str]:
    problems: dict[str, str] = {}
    for name, field_value in value.items():
        if name not in OVERRIDE_FIELDS:
            problems[f"{pointer}/{escape(name)}"] = "unknown field"
            continue
        problem = _FIELD_CHECKS[name](field_value)
        if problem is not None:
            problems[f"{pointer}/{name}"] = problem
    if not problems:
        start = parse_time(value.get("start_time")) or start
        end = parse_time(value.get("end_time")) or end
        if end <= start:
            problems[f"{pointer}/end_time"] = "must be after start_time"
    return problems


def build_document(fields: dict[str, Any], *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The canonical document from a create body (base None) or an update's subset.

    On create, missing optional fields take DEFAULTS; on update, the given fields
    replace those of `base`. Raises a 422 validation_error naming every bad field.
    """
    if not isinstance(fields, dict):
        raise validation_error({"document": "must be a JSON object"})
    # No copies needed here: normalize_document deep-copies every value it returns.
    doc = {**(DEFAULTS if base is None else base), **fields}
    problems = document_problems(doc)
    if problems:
        raise validation_error(problems, _summary(problems))
    return normalize_document(doc)


def normalize_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The canonical form of a valid document: every field, in order, times in UTC `Z`."""
    canonical: dict[str, Any] = {}
    for name in DOCUMENT_FIELDS:
        value = doc[name]
        if name in ("start_time", "end_time"):
            value = _utc(value)
        elif name == "overrides":
            value = {key: _normal_override(override) for key, override in value.items()}
        # Copies, so a later change to the caller's lists or dicts cannot reach it.
        canonical[name] = json_copy(value)
    return canonical


def _utc(value: str) -> str:
    moment = parse_time(value)
    assert moment is not None, "normalize_document needs a valid document"
    return format_time(moment)


def _normal_override(override: dict[str, Any]) -> dict[str, Any]:
    """Its fields in OVERRIDE_FIELDS order, times in UTC `Z`."""
    return {
        name: _utc(override[name]) if name in ("start_time", "end_time") else override[name]
        for name in OVERRIDE_FIELDS
        if name in override
    }


def check_document(doc: object, code: ErrorCode = ErrorCode.VALIDATION_ERROR) -> dict[str, Any]:
    """The canonical form of a full document, or TandemError(code) naming every bad field.

    The patch engine passes ErrorCode.INVALID_EVENT: there the document is the result of
    the client's patch, not a body the client wrote.
    """
    problems = document_problems(doc)
    if problems:
        raise TandemError(code, _summary(problems), {"fields": problems})
    assert isinstance(doc, dict)
    return normalize_document(doc)


def _summary(problems: dict[str, str]) -> str:
    return "invalid event: " + "; ".join(f"{name} {why}" for name, why in problems.items())


def _text(value: object, low: int, high: int) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if not low <= len(value) <= high:
        return f"must be {low}-{high} characters"
    return None


def _time(value: object) -> str | None:
    if parse_time(value) is None:
        return "must be an RFC 3339 time with an offset, like 2026-03-02T09:00:00Z"
    return None


def _timezone(value: object) -> str | None:
    return None if load_zone(value) is not None else "must be an IANA time zone name"


def _all_day(value: object) -> str | None:
    # bool, not int: JSON true and 1 are different values to a client.
    return None if isinstance(value, bool) else "must be true or false"


def _recurrence(value: object) -> str | None:
    if not isinstance(value, list) or not all(isinstance(line, str) for line in value):
        return "must be a list of strings"
    return None


def _overrides(value: object) -> str | None:
    # Keys and values are checked against the series in _override_problems.
    return None if isinstance(value, dict) else "must be a JSON object"


def _metadata(value: object) -> str | None:
    if not isinstance(value, dict):
        return "must be a JSON object"
    problem = _json_problem(value, 0)
    if problem is not None:
        return problem
    if len(msgspec.json.encode(value)) > MAX_METADATA_BYTES:
        return "must be at most 16 KiB (16384 bytes) as JSON"
    return None


def _json_problem(value: object, depth: int) -> str | None:
    """Why `value` is not plain JSON (object keys strings, finite numbers), or None."""
    if depth > MAX_METADATA_DEPTH:
        return f"must be nested at most {MAX_METADATA_DEPTH} levels deep"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return "object keys must be strings"
        children: Any = value.values()
    elif isinstance(value, list):
        children = value
    elif isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite"
    elif isinstance(value, int) and not isinstance(value, bool):
        # msgspec, which encodes responses, stops at 64-bit integers.
        return None if -(2**63) <= value < 2**64 else "integers must fit in 64 bits"
    elif value is None or isinstance(value, str | bool):
        return None
    else:
        return "must hold only JSON values"
    for child in children:
        problem = _json_problem(child, depth + 1)
        if problem is not None:
            return problem
    return None


_FIELD_CHECKS = {
    "title": lambda value: _text(value, 1, MAX_TITLE),
    "description": lambda value: _text(value, 0, MAX_DESCRIPTION),
    "location": lambda value: None if value is None else _text(value, 0, MAX_LOCATION),
    "start_time": _time,
    "end_time": _time,
    "timezone": _timezone,
    "all_day": _all_day,
    "recurrence": _recurrence,
    "metadata": _metadata,
    "overrides": _overrides,
}
