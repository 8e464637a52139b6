"""A whole event document for the storage tests: every field set, metadata nested."""

from __future__ import annotations

from typing import Any


def document(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "Design review",
        "description": "",
        "location": None,
        "start_time": "2026-03-02T08:00:00Z",
        "end_time": "2026-03-02T09:00:00Z",
        "timezone": "Europe/Paris",
        "all_day": False,
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE:20260309T080000Z"],
        "metadata": {"color": "red", "tags": ["a", "b"], "a/b": {"~x": 1}},
        "overrides": {},
    }
    base.update(fields)
    return base
