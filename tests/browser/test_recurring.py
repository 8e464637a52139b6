"""Recurring events on the demo page: occurrences shown where they now are (PROTOCOL.md v1.1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import expect

from tests.browser.helpers import NewPage
from tests.browser.test_week import this_week
from tests.support import create_event, register


def occurrence_id(fields: dict[str, str], day: int) -> str:
    """The id of the occurrence `day` days after the series' first one (same clock time)."""
    first = datetime.fromisoformat(fields["start_time"]) + timedelta(days=day)
    return first.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_moved_occurrences_show_where_they_now_are(
    new_page: NewPage, client: httpx.AsyncClient
) -> None:
    """A moved, renamed occurrence shows in its new day with its own title, the series keeps
    its title, and a move made elsewhere reaches the open page live."""
    ann = await register(client, "ann")
    standup = this_week(0, 9.5, 15)
    moved = this_week(3, 15, 30)
    event = await create_event(
        client,
        ann,
        title="Standup",
        recurrence=["RRULE:FREQ=DAILY;COUNT=5"],
        overrides={
            occurrence_id(standup, 2): {
                "title": "Standup (moved)",
                "start_time": moved["start_time"],
                "end_time": moved["end_time"],
            }
        },
        **standup,
    )
    page = await new_page()
    await page.log_in("ann", ann.password)
    thursday = page.page.locator(".day-column").nth(3)
    wednesday = page.page.locator(".day-column").nth(2)
    await expect(thursday.locator(".event-block", has_text="Standup (moved)")).to_be_visible()
    await expect(wednesday.locator(".event-block")).to_have_count(0)
    await expect(page.page.locator(".event-block", has_text="Standup")).to_have_count(5)
    await page.screenshot("moved-occurrence")

    # Another device moves Friday's standup to Wednesday: the page follows.
    friday = occurrence_id(standup, 4)
    elsewhere = this_week(2, 11, 15)
    answer = await client.put(
        f"/api/v1/events/{event['id']}/occurrences/{friday}",
        json={
            "title": "Standup (Friday's)",
            "start_time": elsewhere["start_time"],
            "end_time": elsewhere["end_time"],
        },
        headers=ann.headers,
    )
    assert answer.status_code == 200, answer.text
    await expect(wednesday.locator(".event-block", has_text="Friday's")).to_be_visible()
    friday_column = page.page.locator(".day-column").nth(4)
    await expect(friday_column.locator(".event-block")).to_have_count(0)
    # The series' own occurrences keep its title.
    monday = page.page.locator(".day-column").nth(0)
    await expect(monday.locator(".event-title")).to_have_text("↻ Standup")


async def test_deleting_an_occurrence_asks_which(
    new_page: NewPage, client: httpx.AsyncClient
) -> None:
    """Delete on an occurrence offers this event / this and following / all events, and
    each removes what it says."""
    ann = await register(client, "ann")
    await create_event(
        client,
        ann,
        title="Standup",
        recurrence=["RRULE:FREQ=DAILY;COUNT=5"],
        **this_week(0, 9.5, 15),
    )
    page = await new_page()
    await page.log_in("ann", ann.password)
    columns = page.page.locator(".day-column")
    standups = page.page.locator(".event-block", has_text="Standup")
    await expect(standups).to_have_count(5)

    await columns.nth(1).locator(".event-block").click()
    await page.panel.get_by_role("button", name="Delete").click()
    choice = page.panel.get_by_role("group", name="Delete which?")
    await expect(choice).to_be_visible()
    await page.screenshot("delete-which")
    await choice.get_by_role("button", name="This event").click()
    await expect(standups).to_have_count(4)
    await expect(columns.nth(1).locator(".event-block")).to_have_count(0)

    await columns.nth(3).locator(".event-block").click()
    await page.panel.get_by_role("button", name="Delete").click()
    await choice.get_by_role("button", name="This and following").click()
    await expect(standups).to_have_count(2)
    for day in (0, 2):
        await expect(columns.nth(day).locator(".event-block")).to_have_count(1)
    mine = await client.get("/api/v1/events", headers=ann.headers)
    [series] = mine.json()["items"]
    assert any("UNTIL=" in line for line in series["recurrence"])

    await columns.nth(0).locator(".event-block").click()
    await page.panel.get_by_role("button", name="Delete").click()
    await choice.get_by_role("button", name="All events").click()
    await expect(standups).to_have_count(0)
