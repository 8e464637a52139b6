"""Occurrences as `recurring-ical-events` (an independent RFC 5545 implementation)
computes them, and as our expanded listing gives them, in one comparable form."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import recurring_ical_events
from icalendar import Calendar

# (start, end, title): UTC datetimes for timed occurrences, dates for all-day ones.
Occurrence = tuple[Any, Any, str]


def _comparable(moment: date | datetime) -> date | datetime:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment


def reference_occurrences(ics: bytes, start: datetime, end: datetime) -> list[Occurrence]:
    """What recurring-ical-events finds in the file between start and end, sorted."""
    found = recurring_ical_events.of(Calendar.from_ical(ics)).between(start, end)
    occurrences = []
    for vevent in found:
        first = vevent["DTSTART"].dt
        last = vevent["DTEND"].dt if "DTEND" in vevent else first + vevent["DURATION"].dt
        title = str(vevent.get("SUMMARY", "")).strip() or "Untitled"
        occurrences.append((_comparable(first), _comparable(last), title))
    return sorted(occurrences, key=repr)


async def listed_occurrences(
    client: httpx.AsyncClient, headers: dict[str, str], start: datetime, end: datetime
) -> list[Occurrence]:
    """What our GET /events?expand=true lists in the window (every page), sorted."""
    params = listing_params(start, end)
    occurrences: list[Occurrence] = []
    while True:
        page = await client.get("/api/v1/events", params=params, headers=headers)
        cursor = _take_page(page, occurrences)
        if cursor is None:
            return sorted(occurrences, key=repr)
        params["cursor"] = cursor


def listing_params(start: datetime, end: datetime) -> dict[str, str]:
    return {
        "expand": "true",
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "limit": "200",
    }


def _take_page(page: httpx.Response, occurrences: list[Occurrence]) -> str | None:
    """Add a listing page's occurrences; its next_cursor."""
    assert page.status_code == 200, page.text
    for item in page.json()["items"]:
        first = datetime.fromisoformat(item["occurrence_start"])
        last = datetime.fromisoformat(item["occurrence_end"])
        if item["all_day"]:
            zone = ZoneInfo(item["timezone"])
            first, last = first.astimezone(zone).date(), last.astimezone(zone).date()
        occurrences.append((first, last, item["title"]))
    cursor: str | None = page.json()["next_cursor"]
    return cursor


def listed_occurrences_sync(
    client: httpx.Client, headers: dict[str, str], start: datetime, end: datetime
) -> list[Occurrence]:
    """listed_occurrences, for code running in a thread with a blocking client."""
    params = listing_params(start, end)
    occurrences: list[Occurrence] = []
    while True:
        cursor = _take_page(
            client.get("/api/v1/events", params=params, headers=headers), occurrences
        )
        if cursor is None:
            return sorted(occurrences, key=repr)
        params["cursor"] = cursor


def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)
