"""The week view: owned, shared and recurring events, and moving between weeks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import expect

from tests.browser.helpers import NewPage
from tests.support import create_event, eventually, register, share, title_ops

PARIS = ZoneInfo("Europe/Paris")  # the browser contexts' time zone (conftest)


def this_week(day: int, hour: float, minutes: int) -> dict[str, Any]:
    """Start and end fields of an event on this week's `day` (0 = Monday), Paris time."""
    today = datetime.now(PARIS).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    start = (monday + timedelta(days=day)).replace(hour=int(hour), minute=int(hour % 1 * 60))
    end = start + timedelta(minutes=minutes)
    return {
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "timezone": "Europe/Paris",
    }


async def test_the_week_shows_owned_shared_and_recurring_events(
    new_page: NewPage, client: httpx.AsyncClient
) -> None:
    """Recurring events repeat on every matching day, in this week and the next; shared ones too."""
    ann, bob = await register(client, "ann"), await register(client, "bob")
    await create_event(
        client,
        ann,
        title="Standup",
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"],
        **this_week(0, 9.5, 15),
    )
    await create_event(client, ann, title="Sprint planning", **this_week(0, 10, 90))
    review = await create_event(
        client, ann, title="Design review", location="Room 4", **this_week(1, 14, 60)
    )
    await create_event(client, ann, title="Customer call", **this_week(3, 11, 60))
    await create_event(client, ann, title="Focus time", **this_week(4, 13, 180))
    lunch = await create_event(client, bob, title="Lunch with Bob", **this_week(2, 12.5, 60))
    one_on_one = await create_event(client, bob, title="1:1 Ann / Bob", **this_week(3, 11, 30))
    await share(client, bob, lunch["id"], ann, "editor")
    await share(client, bob, one_on_one["id"], ann, "viewer")
    await share(client, ann, review["id"], bob, "editor")

    page = await new_page()
    await page.screenshot("login")
    await page.log_in("ann", ann.password)
    await expect(page.block("Standup")).to_have_count(5)
    await expect(page.block("Lunch with Bob")).to_have_class("event-block shared")
    await expect(page.block("1:1 Ann / Bob")).to_be_visible()
    await expect(page.block("Customer call")).to_be_visible()

    # Bob has the review open, in its description; Ann opens it too.
    other = await new_page()
    await other.log_in("bob", bob.password)
    await other.open_event("Design review")
    await other.field("description").focus()
    await page.open_event("Design review")
    await expect(page.presence).to_contain_text("in Description")
    await page.screenshot("overview")

    await page.page.get_by_role("button", name="Next week").click()
    await expect(page.block("Design review")).to_have_count(0)
    await expect(page.block("Standup")).to_have_count(5)
    await page.page.get_by_role("button", name="Previous week").click()
    await page.page.get_by_role("button", name="Previous week").click()
    await expect(page.block("Standup")).to_have_count(0)
    await page.page.get_by_test_id("today").click()
    await expect(page.block("Design review")).to_be_visible()


async def test_a_click_across_a_live_redraw_still_opens_the_event(
    new_page: NewPage, client: httpx.AsyncClient
) -> None:
    """A live update that redraws the week between the press and the release of a click
    on an event still opens that event."""
    ann = await register(client, "ann")
    await create_event(client, ann, title="Standup", **this_week(1, 9, 30))
    review = await create_event(client, ann, title="Review", **this_week(3, 14, 60))
    page = await new_page()
    await page.log_in("ann", ann.password)
    await expect(page.block("Review")).to_be_visible()
    # Redraws come and go as the page joins its rooms; a block being replaced has no box.
    box = await eventually(page.block("Standup").bounding_box, what="the block's box")

    await page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.page.mouse.down()
    response = await client.patch(
        f"/api/v1/events/{review['id']}",
        json=title_ops("Retro"),
        headers={**ann.headers, "Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text
    await expect(page.block("Retro")).to_be_visible()
    await page.page.mouse.up()

    await expect(page.field("title")).to_have_value("Standup")
