"""Calendars as Google, Exchange, Thunderbird and Nextcloud wrote them (../shared/
conformance/ical): import, export, import again, and agree with recurring-ical-events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar

from tests.ical.agreement import listed_occurrences, reference_occurrences
from tests.shared_docs import SHARED, require_shared
from tests.support import register

pytestmark = pytest.mark.timeout(120)

FOLDER = SHARED / "conformance" / "ical"
ICS = {"Content-Type": "text/calendar"}
# What Tandem cannot represent, by the VEVENT the refusal names: a series lasting zero
# minutes (DTEND = DTSTART), and an override that makes one occurrence all-day.
REFUSED = {"issue_62_moved_event.ics": "1", "recurring_events_changed_duration.ics": "5"}


def calendar_files() -> list[Path]:
    return sorted(FOLDER.glob("*.ics")) if FOLDER.is_dir() else []


def calendars() -> list[object]:
    """Each file's name and bytes, read once at collection."""
    return [pytest.param(path.name, path.read_bytes(), id=path.name) for path in calendar_files()]


def window(ics: bytes) -> tuple[datetime, datetime]:
    """From a day before the first DTSTART to two years after it."""
    starts = []
    for vevent in Calendar.from_ical(ics).walk("VEVENT"):
        moment = vevent["DTSTART"].dt
        if not isinstance(moment, datetime):
            moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        starts.append(moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC))
    first = min(starts)
    return first - timedelta(days=1), first + timedelta(days=730)


def test_the_real_calendars_are_there() -> None:
    """The files are beside the checkout (skip loudly without them; fail in CI)."""
    require_shared(FOLDER, "the real-world iCalendar files")
    assert len(calendar_files()) >= 10


@pytest.mark.parametrize(("name", "original"), calendars())
async def test_real_calendar_round_trip(
    client: httpx.AsyncClient, name: str, original: bytes
) -> None:
    """The file imports (or is refused naming its VEVENT); our listing and our export
    agree with recurring-ical-events on the original; the export imports back unchanged."""
    alice = await register(client)
    imported = await client.post(
        "/api/v1/events/import", content=original, headers={**alice.headers, **ICS}
    )
    if name in REFUSED:
        assert imported.status_code == 422, imported.text
        assert list(imported.json()["error"]["details"]["errors"]) == [REFUSED[name]]
        return
    assert imported.status_code == 200, imported.text
    ids = imported.json()["created"]
    start, end = window(original)
    expected = reference_occurrences(original, start, end)
    assert expected, "the window should hold occurrences"
    assert await listed_occurrences(client, alice.headers, start, end) == expected
    exported = await client.get("/api/v1/calendar.ics", headers=alice.headers)
    assert reference_occurrences(exported.content, start, end) == expected
    again = await client.post(
        "/api/v1/events/import", content=exported.content, headers={**alice.headers, **ICS}
    )
    assert again.json() == {"created": [], "updated": [], "unchanged": ids}
