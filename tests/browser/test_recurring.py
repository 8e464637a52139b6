"""Recurring events on the demo page: occurrences shown where they now are (PROTOCOL.md v1.1)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import expect

from tests.browser.helpers import DemoPage, NewPage
from tests.browser.test_week import this_week
from tests.support import Account, create_event, register


def occurrence_id(fields: dict[str, str], day: int) -> str:
    """The id of the occurrence `day` days after the series' first one (same clock time)."""
    first = datetime.fromisoformat(fields["start_time"]) + timedelta(days=day)
    return first.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def standup_week(new_page: NewPage, client: httpx.AsyncClient) -> tuple[Account, DemoPage]:
    """Ann, with a standup every day of this week from Monday to Friday, logged in."""
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
    return ann, page


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
    ann, page = await standup_week(new_page, client)
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


async def test_this_and_following_from_the_start_keeps_earlier_rdates(
    new_page: NewPage, client: httpx.AsyncClient
) -> None:
    """ "This and following" from the occurrence at the series' start_time deletes it and
    the later ones but keeps an RDATE occurrence before that start; from the first
    occurrence, with nothing before it, it deletes the whole event."""
    ann = await register(client, "ann")
    retro = this_week(2, 9.5, 15)
    monday = datetime.fromisoformat(this_week(0, 9.5, 15)["start_time"]).astimezone(UTC)
    await create_event(
        client,
        ann,
        title="Retro",
        recurrence=["RRULE:FREQ=DAILY;COUNT=3", f"RDATE:{monday:%Y%m%dT%H%M%SZ}"],
        **retro,
    )
    page = await new_page()
    await page.log_in("ann", ann.password)
    columns = page.page.locator(".day-column")
    retros = page.block("Retro")
    await expect(retros).to_have_count(4)

    await columns.nth(2).locator(".event-block").click()
    await page.panel.get_by_role("button", name="Delete").click()
    choice = page.panel.get_by_role("group", name="Delete which?")
    await choice.get_by_role("button", name="This and following").click()
    await expect(retros).to_have_count(1)
    await expect(columns.nth(0).locator(".event-block")).to_have_count(1)
    [kept] = (await client.get("/api/v1/events", headers=ann.headers)).json()["items"]
    assert kept["start_time"] == f"{monday:%Y-%m-%dT%H:%M:%SZ}", kept
    assert not any(line.startswith("RRULE") for line in kept["recurrence"]), kept

    # Monday's is now the first occurrence (and the series' start_time): the server will
    # not split there, and the whole event goes.
    await columns.nth(0).locator(".event-block").click()
    await page.panel.get_by_role("button", name="Delete").click()
    await choice.get_by_role("button", name="This and following").click()
    await expect(retros).to_have_count(0)
    assert (await client.get("/api/v1/events", headers=ann.headers)).json()["items"] == []


ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:retro@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
    "SUMMARY:Retro\r\nDTSTART:{start}\r\nDTEND:{end}\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:broken@example.com\r\nSUMMARY:No start\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


async def test_subscribe_and_import(new_page: NewPage, client: httpx.AsyncClient) -> None:
    """The calendar dialog makes a feed URL that serves the calendar and can be revoked,
    and imports an .ics file (a refused one names the VEVENT and adds nothing)."""
    ann = await register(client, "ann")
    await create_event(client, ann, title="Planning", **this_week(1, 10, 60))
    page = await new_page()
    await page.log_in("ann", ann.password)
    await page.page.get_by_role("button", name="Subscribe & import").click()
    dialog = page.page.get_by_role("dialog", name="Calendar")
    await dialog.get_by_role("button", name="New subscription URL").click()
    url = dialog.get_by_label("Subscription URL")
    await expect(url).to_have_value(re.compile(r"/ical/[A-Za-z0-9_-]{43}\.ics$"))
    await dialog.get_by_role("button", name="Copy").click()
    await expect(dialog.get_by_role("button", name="Copied")).to_be_visible()
    feed = httpx.URL(await url.input_value()).path
    served = await client.get(feed)
    assert served.status_code == 200 and b"SUMMARY:Planning" in served.content
    await expect(dialog.get_by_test_id("feeds").locator("li")).to_have_count(1)
    await page.screenshot("subscribe")
    await dialog.get_by_role("button", name="Revoke").click()
    await expect(dialog.get_by_test_id("feeds").locator("li")).to_have_count(0)
    assert (await client.get(feed)).status_code == 404

    retro = this_week(3, 16, 45)
    moments = {
        key: datetime.fromisoformat(retro[f"{key}_time"]).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        for key in ("start", "end")
    }
    calendar = ICS.format(**moments)
    files = dialog.get_by_label("File")
    await files.set_input_files(
        files=[{"name": "team.ics", "mimeType": "text/calendar", "buffer": calendar.encode()}]
    )
    await dialog.get_by_role("button", name="Import").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("Event 2: DTSTART is required")
    await expect(page.block("Retro")).to_have_count(0)
    good = calendar.split("BEGIN:VEVENT\r\nUID:broken")[0] + "END:VCALENDAR\r\n"
    await files.set_input_files(
        files=[{"name": "team.ics", "mimeType": "text/calendar", "buffer": good.encode()}]
    )
    await dialog.get_by_role("button", name="Import").click()
    await expect(page.toast("1 new")).to_be_visible()
    await dialog.get_by_role("button", name="Close").click()
    await expect(page.block("Retro")).to_be_visible()


async def test_editing_an_occurrence_asks_which(
    new_page: NewPage, client: httpx.AsyncClient
) -> None:
    """Edits to an occurrence go to this event only, to it and the following ones (a new
    series), or to all events, as chosen."""
    ann, page = await standup_week(new_page, client)
    columns = page.page.locator(".day-column")
    titles = page.page.locator(".event-block .event-title")
    await expect(titles).to_have_count(5)

    await columns.nth(2).locator(".event-block").click()
    which = page.panel.get_by_role("group", name="Edit which?")
    await which.get_by_role("button", name="This event").click()
    await expect(page.field("start_time")).to_have_value(re.compile(r"T09:30$"))
    await page.screenshot("edit-which")
    await page.field("title").fill("Standup (Wed)")
    await page.field("title").blur()
    await expect(columns.nth(2).locator(".event-title")).to_have_text("↻ Standup (Wed)")
    await expect(columns.nth(1).locator(".event-title")).to_have_text("↻ Standup")

    await columns.nth(3).locator(".event-block").click()
    await which.get_by_role("button", name="This and following").click()
    await page.field("title").fill("Daily sync")
    await page.field("title").blur()
    for day, title in enumerate(
        ["Standup", "Standup", "Standup (Wed)", "Daily sync", "Daily sync"]
    ):
        await expect(columns.nth(day).locator(".event-title")).to_have_text(f"↻ {title}")
    mine = (await client.get("/api/v1/events", headers=ann.headers)).json()["items"]
    assert sorted(event["title"] for event in mine) == ["Daily sync", "Standup"]

    await columns.nth(0).locator(".event-block").click()
    await which.get_by_role("button", name="All events").click()
    await page.field("location").fill("Room 2")
    await page.field("location").blur()
    for day in range(3):
        await expect(columns.nth(day).locator(".event-time")).to_contain_text("Room 2")
    await expect(columns.nth(3).locator(".event-time")).not_to_contain_text("Room 2")
