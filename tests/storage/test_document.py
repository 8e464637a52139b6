"""The event document: field rules, every-bad-field reporting, defaults, canonical form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from storage.document import (
    DEFAULTS,
    DOCUMENT_FIELDS,
    build_document,
    check_document,
    document_problems,
    format_time,
    normalize_document,
    parse_time,
)
from storage.errors import TandemError

CREATE = {
    "title": "Design review",
    "start_time": "2026-03-02T08:00:00Z",
    "end_time": "2026-03-02T09:00:00Z",
}


def full(**changes: Any) -> dict[str, Any]:
    """A valid full document with some fields changed."""
    doc = {**DEFAULTS, **CREATE, "timezone": "Europe/Paris", **changes}
    return {name: doc[name] for name in DOCUMENT_FIELDS}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T09:00:00Z", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("2026-03-02T09:00:00+01:00", datetime(2026, 3, 2, 8, tzinfo=UTC)),
        ("2026-03-02T09:00:00-05:30", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        ("2026-03-02t09:00:00z", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("2026-03-02T09:00:00.5Z", datetime(2026, 3, 2, 9, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-02T09:00:00.123456789Z", datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-01T00:30:00+01:00", datetime(2025, 12, 31, 23, 30, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts_rfc3339_with_offset(text: str, expected: datetime) -> None:
    """RFC 3339 times with an offset become aware UTC datetimes."""
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo == UTC


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-02T09:00:00",  # no offset
        "2026-03-02",
        "2026-03-02 09:00:00Z",
        "2026-02-30T09:00:00Z",
        "2026-03-02T24:00:00Z",
        "2026-03-02T09:00:60Z",
        "2026-03-02T09:00:00+24:00",
        "2026-03-02T09:00:00+01:60",
        "2026-03-02T09:00:00+0100",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:00:00-05:00",  # past year 9999 in UTC
        "\uff12\uff10\uff12\uff16-03-02T09:00:00Z",  # fullwidth digits, not ASCII
        "next tuesday",
        "",
        1767225600,
        None,
        datetime(2026, 3, 2, tzinfo=UTC),
    ],
)
def test_parse_time_refuses_everything_else(value: object) -> None:
    """Times without an offset, impossible times, non-strings and garbage give None."""
    assert parse_time(value) is None


def test_format_time_is_utc_with_z() -> None:
    """format_time writes UTC with Z, and a fraction only when there is one."""
    paris_winter = timezone(timedelta(hours=1))
    assert format_time(datetime(2026, 3, 2, 9, tzinfo=paris_winter)) == "2026-03-02T08:00:00Z"
    assert format_time(datetime(2026, 3, 2, 8, 0, 0, 500000, tzinfo=UTC)) == (
        "2026-03-02T08:00:00.500000Z"
    )
    assert format_time(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05Z"
    with pytest.raises(RuntimeError):
        format_time(datetime(2026, 3, 2, 9))


def test_valid_document_has_no_problems() -> None:
    """A document following every rule has no problems."""
    doc = full(
        description="x" * 10_000,
        location="y" * 500,
        all_day=True,
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10", "EXDATE:20260309T080000Z"],
        metadata={"color": "blue", "nested": {"list": [1, 2.5, None, True, "é"]}},
    )
    assert document_problems(doc) == {}
    assert document_problems(full(title="t" * 200, location=None, timezone="UTC")) == {}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "1-200 characters"),
        ("title", "t" * 201, "1-200 characters"),
        ("title", None, "must be a string"),
        ("description", "d" * 10_001, "0-10000 characters"),
        ("description", None, "must be a string"),
        ("location", "l" * 501, "0-500 characters"),
        ("location", 5, "must be a string"),
        ("start_time", "2026-03-02T09:00:00", "RFC 3339"),
        ("start_time", 1767225600, "RFC 3339"),
        ("end_time", "tomorrow", "RFC 3339"),
        ("end_time", "2026-03-02T08:00:00Z", "must be after start_time"),
        ("end_time", "2026-03-02T07:00:00Z", "must be after start_time"),
        ("timezone", "", "IANA"),
        ("timezone", "../etc", "IANA"),
        ("timezone", "/etc/passwd", "IANA"),
        ("timezone", "Europe", "IANA"),
        ("timezone", "Mars/Olympus", "IANA"),
        ("timezone", None, "IANA"),
        ("all_day", 1, "true or false"),
        ("all_day", 0, "true or false"),
        ("all_day", "false", "true or false"),
        ("recurrence", "RRULE:FREQ=DAILY", "list of strings"),
        ("recurrence", [1], "list of strings"),
        ("recurrence", ["RRULE:FREQ=SOMETIMES"], "FREQ"),
        ("recurrence", ["DTSTART:20260302T080000Z"], "DTSTART"),
        ("metadata", [], "JSON object"),
        ("metadata", None, "JSON object"),
        ("metadata", {"a": {1: "x"}}, "keys must be strings"),
        ("metadata", {"a": float("nan")}, "finite"),
        ("metadata", {"a": b"bytes"}, "JSON values"),
        ("metadata", {"a": 2**64}, "64 bits"),
    ],
)
def test_each_rule(field: str, value: Any, message: str) -> None:
    """Each field rule refuses its bad values, naming only that field."""
    problems = document_problems(full(**{field: value}))
    assert list(problems) == [field]
    assert message in problems[field]


def test_every_bad_field_is_reported() -> None:
    """All bad fields are named at once, unknown and missing ones included."""
    doc = full(title="", end_time="2026-03-02T07:00:00Z", timezone="../etc", all_day=1)
    doc["metadata"] = {"big": "x" * 20_000}
    doc["colour"] = "red"
    del doc["description"]
    assert document_problems(doc) == {
        "colour": "unknown field",
        "title": "must be 1-200 characters",
        "description": "is required",
        "end_time": "must be after start_time",
        "timezone": "must be an IANA time zone name",
        "all_day": "must be true or false",
        "metadata": "must be at most 16 KiB (16384 bytes) as JSON",
    }


def test_non_object_document() -> None:
    """A document that is not an object is one problem, not a crash."""
    assert document_problems(["title"]) == {"document": "must be a JSON object"}
    with pytest.raises(TandemError) as caught:
        check_document("nope", "invalid_event")
    assert caught.value.details == {"fields": {"document": "must be a JSON object"}}


def test_recurrence_is_evaluated_in_the_event_zone() -> None:
    """Lines are checked against the event's start and zone, and only when those are valid."""
    lines = ["RRULE:FREQ=DAILY;UNTIL=20260310T090000", "EXDATE;TZID=Europe/Paris:20260303T090000"]
    assert document_problems(full(recurrence=lines)) == {}
    bad = ["EXDATE;TZID=Nowhere/Atall:20260303T090000"]
    assert "unknown TZID" in document_problems(full(recurrence=bad))["recurrence"]
    # With no valid start or zone the lines cannot be judged: only the cause is reported.
    assert list(document_problems(full(recurrence=bad, timezone="Nowhere"))) == ["timezone"]
    assert list(document_problems(full(recurrence=bad, start_time="soon"))) == ["start_time"]


def metadata_of_size(size: int) -> dict[str, str]:
    """Metadata whose compact JSON encoding is exactly `size` bytes: {"k":"xxx..."}."""
    overhead = len('{"k":""}')
    doc = {"k": "x" * (size - overhead)}
    assert len(json.dumps(doc, separators=(",", ":")).encode()) == size
    return doc


def test_metadata_16_kib_boundary() -> None:
    """Metadata of exactly 16384 encoded bytes is accepted; 16385 is refused, naming 16 KiB."""
    assert document_problems(full(metadata=metadata_of_size(16_384))) == {}
    problems = document_problems(full(metadata=metadata_of_size(16_385)))
    assert list(problems) == ["metadata"] and "16 KiB" in problems["metadata"]


def test_metadata_size_counts_utf8_bytes() -> None:
    """Non-ASCII text counts by its UTF-8 bytes (é is 2), as the server encodes it."""
    exact = {"k": "é" * ((16_384 - 8) // 2)}
    assert document_problems(full(metadata=exact)) == {}
    assert "metadata" in document_problems(full(metadata={"k": "é" * ((16_384 - 8) // 2 + 1)}))


def test_create_fills_defaults_in_canonical_form() -> None:
    """Create takes the three required fields, fills the defaults, and orders every field."""
    doc = build_document({**CREATE, "start_time": "2026-03-02T09:00:00+01:00"})
    assert doc == {
        "title": "Design review",
        "description": "",
        "location": None,
        "start_time": "2026-03-02T08:00:00Z",
        "end_time": "2026-03-02T09:00:00Z",
        "timezone": "UTC",
        "all_day": False,
        "recurrence": [],
        "metadata": {},
        "overrides": {},
    }
    assert tuple(doc) == DOCUMENT_FIELDS


def test_create_reports_missing_required_and_bad_fields_together() -> None:
    """A create naming no required field gets one 422 naming all of them and any bad field."""
    with pytest.raises(TandemError) as caught:
        build_document({"all_day": "yes", "priority": 1})
    error = caught.value
    assert error.code == "validation_error"
    assert error.details["fields"] == {
        "priority": "unknown field",
        "title": "is required",
        "start_time": "is required",
        "end_time": "is required",
        "all_day": "must be true or false",
    }


def test_defaults_are_never_shared() -> None:
    """Changing a built document's lists or dicts cannot change DEFAULTS or the input."""
    metadata = {"tags": ["a"]}
    doc = build_document({**CREATE, "metadata": metadata})
    doc["recurrence"].append("RRULE:FREQ=DAILY")
    doc["metadata"]["tags"].append("b")
    assert DEFAULTS["recurrence"] == [] and metadata == {"tags": ["a"]}
    assert build_document(CREATE)["recurrence"] == []
    with pytest.raises(TypeError):
        DEFAULTS["timezone"] = "Europe/Paris"  # type: ignore[index]


def test_update_merges_into_the_base() -> None:
    """An update replaces only the given fields of the base and stays canonical."""
    base = build_document({**CREATE, "timezone": "Europe/Paris", "metadata": {"a": 1}})
    doc = build_document({"title": "Moved", "end_time": "2026-03-02T10:30:00+01:00"}, base=base)
    assert doc == {**base, "title": "Moved", "end_time": "2026-03-02T09:30:00Z"}
    assert tuple(doc) == DOCUMENT_FIELDS


def test_update_is_validated_against_the_base() -> None:
    """An update that breaks a rule with the base's other fields (end before start) is refused."""
    base = build_document(CREATE)
    with pytest.raises(TandemError) as caught:
        build_document({"start_time": "2026-03-02T10:00:00Z", "colour": "red"}, base=base)
    assert caught.value.details["fields"] == {
        "colour": "unknown field",
        "end_time": "must be after start_time",
    }


def test_build_refuses_a_non_object() -> None:
    """A body that is not an object is a 422, not a crash."""
    with pytest.raises(TandemError) as caught:
        build_document(["title"])  # type: ignore[arg-type]
    assert caught.value.code == "validation_error"


def test_normalize_reformats_times_and_orders_fields() -> None:
    """normalize_document writes times in UTC Z and fields in DOCUMENT_FIELDS order."""
    doc = dict(reversed(list(full(start_time="2026-03-02T09:00:00.250+01:00").items())))
    canonical = normalize_document(doc)
    assert tuple(canonical) == DOCUMENT_FIELDS
    assert canonical["start_time"] == "2026-03-02T08:00:00.250000Z"
    assert normalize_document(canonical) == canonical


def test_check_document_uses_the_given_code() -> None:
    """check_document returns the canonical form, or raises with the caller's code."""
    assert check_document(full(end_time="2026-03-02T10:00:00+01:00"))["end_time"] == (
        "2026-03-02T09:00:00Z"
    )
    doc = full()
    del doc["recurrence"]
    with pytest.raises(TandemError) as caught:
        check_document(doc, code="invalid_event")
    assert caught.value.code == "invalid_event"
    assert caught.value.details == {"fields": {"recurrence": "is required"}}
