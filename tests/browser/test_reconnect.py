"""A page whose connection drops reconnects by itself and catches up with `since`.

Ann's page reaches the server through a relay the test cuts: every TCP
connection is reset and new ones are refused, as when a network goes away.
(Chromium's offline emulation is no substitute: it leaves an open WebSocket
neither working nor closed.)
"""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.helpers import CuttableProxy, DemoPage, NewPage, two_people_sharing
from tests.support import eventually


def caught_up_with(page: DemoPage, value: str) -> bool:
    """The page rejoined with `since` and was sent the patches it missed, `value` among
    them (a join without `since` is answered with the whole event instead)."""
    return any(
        op.get("value") == value
        for message in page.received
        if message["type"] == "joined"
        for patch in message.get("patches", [])
        for op in patch["ops"]
    )


async def cut_off(page: DemoPage, proxy: CuttableProxy) -> None:
    """Drop the page's connection and wait until it shows that it is reconnecting."""
    proxy.cut()
    await expect(page.connection).to_have_attribute("data-state", "reconnecting")


async def test_a_dropped_connection_recovers_and_shows_what_was_missed(
    new_page: NewPage, proxy: CuttableProxy
) -> None:
    """Bob's edit made while Ann was cut off reaches her page through the rejoin's catch-up."""
    ann, bob = await two_people_sharing(new_page, "Planning", "editor", ann_url=proxy.url)

    await cut_off(ann, proxy)
    await ann.screenshot("reconnecting")
    await bob.edit("title", "Planning, moved to Friday")
    await bob.saved("Planning, moved to Friday")
    await ann.edit("location", "Café")  # typed while cut off: sent after the reconnect

    proxy.restore()
    await expect(ann.connection).to_have_attribute("data-state", "live")
    await expect(ann.field("title")).to_have_value("Planning, moved to Friday")
    await expect(ann.block("Planning, moved to Friday")).to_be_visible()
    await expect(bob.field("location")).to_have_value("Café")

    await eventually(lambda: caught_up_with(ann, "Planning, moved to Friday"))


async def test_an_offline_edit_that_conflicts_is_reported(
    new_page: NewPage, proxy: CuttableProxy
) -> None:
    """Both retitle while Ann is cut off: Bob's came first, and Ann is told hers was not saved."""
    ann, bob = await two_people_sharing(new_page, "Offsite", "editor", ann_url=proxy.url)

    await cut_off(ann, proxy)
    await ann.edit("title", "Offsite by Ann")
    await bob.edit("title", "Offsite by Bob")
    await bob.saved("Offsite by Bob")

    proxy.restore()
    conflict = ann.page.locator('[data-field="title"] .field-error')
    await expect(conflict).to_contain_text("someone else changed this at the same moment")
    await expect(ann.field("title")).to_have_value("Offsite by Bob")
    await ann.screenshot("conflict")
    await expect(bob.field("title")).to_have_value("Offsite by Bob")

    await ann.panel.get_by_role("button", name="Use mine instead").click()
    await expect(bob.field("title")).to_have_value("Offsite by Ann")
    await expect(conflict).to_be_empty()
