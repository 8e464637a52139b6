"""Times and the Paris event shared by the recurrence tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
FAR = datetime(2010, 1, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# The contract's example: a weekly Monday meeting at 09:00 in Paris.
PARIS_START = utc("2026-03-02T08:00:00Z")
PARIS_END = utc("2026-03-02T09:00:00Z")
YEAR_2026 = (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
