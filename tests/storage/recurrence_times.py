"""Times, the Paris event and expansion helpers shared by the recurrence tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from storage.document import format_time
from storage.recurrence import event_bounds, event_occurrences

# How many occurrences a test takes by default (expansion itself is lazy).
MAX_OCCURRENCES = 5000

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FAR = datetime(2010, 1, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# The contract's example: a weekly Monday meeting at 09:00 in Paris.
PARIS_START = utc("2026-03-02T08:00:00Z")
PARIS_END = utc("2026-03-02T09:00:00Z")
YEAR_2026 = (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))


def document(start: datetime, end: datetime, timezone: str, lines: list[str]) -> dict[str, Any]:
    return {
        "start_time": format_time(start),
        "end_time": format_time(end),
        "timezone": timezone,
        "recurrence": lines,
    }


def occurrences(
    start: datetime,
    end: datetime,
    timezone: str,
    lines: list[str],
    window_start: datetime,
    window_end: datetime,
    limit: int = MAX_OCCURRENCES,
) -> list[tuple[datetime, datetime]]:
    """The first `limit` occurrences of such an event in the window."""
    found = event_occurrences(document(start, end, timezone, lines), window_start, window_end)
    return list(islice(found, limit))


def series_span(
    start: datetime, end: datetime, timezone: str, lines: list[str]
) -> tuple[datetime, datetime]:
    """The bounds stored for an event with these fields."""
    return event_bounds(document(start, end, timezone, lines))
