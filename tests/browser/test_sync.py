"""The demo page keeps its copy through /sync: the first load lists once, a reload and a
reconnect catch up from the cursor kept in sessionStorage; the owner sees the audit trail."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Request, expect

from tests.browser.helpers import CuttableProxy, DemoPage, NewPage, two_people_sharing
from tests.support import eventually


def api_calls(page: DemoPage) -> list[tuple[str, dict[str, list[str]]]]:
    """Every API GET the page makes from now on: (path, query)."""
    calls: list[tuple[str, dict[str, list[str]]]] = []

    def record(request: Request) -> None:
        url = urlsplit(request.url)
        if request.method == "GET" and url.path.startswith("/api/v1/"):
            calls.append((url.path, parse_qs(url.query)))

    page.page.on("request", record)
    return calls


async def stored_cursor(page: DemoPage) -> str | None:
    return await page.page.evaluate(
        """() => {
            const key = Object.keys(sessionStorage).find((k) => k.startsWith("tandem.sync."));
            return key ? JSON.parse(sessionStorage.getItem(key)).cursor : null;
        }"""
    )


async def test_a_reconnect_catches_up_through_the_sync_cursor(
    new_page: NewPage, proxy: CuttableProxy
) -> None:
    """An event shared while Ann was cut off arrives through /sync with her cursor, without
    listing the week again."""
    ann, bob = await two_people_sharing(new_page, "Planning", "editor", ann_url=proxy.url)
    cursor = await stored_cursor(ann)
    assert cursor

    calls = api_calls(ann)
    proxy.cut()
    await expect(ann.connection).to_have_attribute("data-state", "reconnecting")
    await bob.page.keyboard.press("Escape")
    await bob.create_event("Bob's lunch", day=3, hour=12)
    await bob.share("ann", "viewer")
    await bob.close_dialog()
    proxy.restore()
    await expect(ann.connection).to_have_attribute("data-state", "live")
    await expect(ann.block("Bob's lunch")).to_be_visible()
    syncs = [query for path, query in calls if path == "/api/v1/sync"]
    assert syncs and syncs[0].get("cursor") == [cursor]
    assert not [q for p, q in calls if p == "/api/v1/events" and "expand" in q]


async def test_a_reload_syncs_from_its_cursor_and_the_owner_reads_the_activity(
    new_page: NewPage,
) -> None:
    """A reload starts from the cursor kept in sessionStorage; the Activity tab lists who
    created, shared and edited the event, and only the owner has it."""
    ann, bob = await two_people_sharing(new_page, "Budget", "editor")
    calls = api_calls(ann)
    await ann.page.reload()
    await expect(ann.connection).to_have_attribute("data-state", "live")
    await expect(ann.block("Budget")).to_be_visible()
    await eventually(lambda: any(p == "/api/v1/sync" for p, _ in calls))
    first_sync = next(q for p, q in calls if p == "/api/v1/sync")
    assert "cursor" in first_sync, "the reload listed everything again"
    await ann.open_event("Budget")

    await bob.edit("title", "Budget by Bob")
    await bob.saved("Budget by Bob")
    await expect(bob.panel.get_by_role("button", name="Activity")).to_be_hidden()

    await ann.panel.get_by_role("button", name="Activity").click()
    activity = ann.page.get_by_test_id("activity")
    await expect(activity.locator('[data-action="event_create"]')).to_contain_text(
        "ann created the event"
    )
    await expect(activity.locator('[data-action="share"]')).to_contain_text(
        "ann shared it with bob"
    )
    await expect(activity.locator('[data-action="event_update"]').last).to_contain_text(
        "bob saved version 3"
    )
    await ann.screenshot("activity")
