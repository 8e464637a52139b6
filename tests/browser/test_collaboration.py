"""Two people on the demo page, each in a browser context of their own, editing together."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.helpers import NewPage, two_people_sharing


async def test_a_shared_event_appears_and_edits_flow_both_ways(new_page: NewPage) -> None:
    """A share shows up in the other calendar live, and each person sees the other's edits."""
    ann, bob = await two_people_sharing(new_page, "Design review", "editor")
    await ann.screenshot("week")

    await bob.field("location").focus()
    await expect(ann.presence.locator(".peer", has_text="bob")).to_contain_text("in Location")
    await bob.edit("location", "Room 4")
    await expect(ann.field("location")).to_have_value("Room 4")
    await expect(ann.block("Design review")).to_contain_text("Room 4")

    await ann.edit("title", "Design review, final")
    await expect(bob.field("title")).to_have_value("Design review, final")
    await expect(bob.block("Design review, final")).to_be_visible()

    await bob.field("description").focus()
    await expect(ann.page.locator('[data-field="description"] .peer-tag')).to_have_text("bob")
    await ann.screenshot("editing-together")


async def test_history_shows_both_authors_and_rollback_restores_the_title(
    new_page: NewPage,
) -> None:
    """The history names each version's author, diffs two versions, and a restore reaches both."""
    ann, bob = await two_people_sharing(new_page, "Budget", "editor")
    await bob.edit("title", "Budget by Bob")
    await expect(ann.field("title")).to_have_value("Budget by Bob")
    await ann.edit("title", "Budget by Ann")
    await expect(bob.field("title")).to_have_value("Budget by Ann")

    # v1 created "New event", v2 named it "Budget", then Bob's and Ann's titles.
    versions = await ann.show_history()
    await expect(versions.locator('[data-version="4"]')).to_contain_text("ann")
    await expect(versions.locator('[data-version="3"]')).to_contain_text("bob")
    await expect(versions.locator('[data-version="2"]')).to_contain_text("ann")

    await versions.locator('[data-version="2"] input[type="checkbox"]').check()
    await versions.locator('[data-version="4"] input[type="checkbox"]').check()
    await ann.panel.get_by_role("button", name="Compare v2 and v4").click()
    diff = ann.page.get_by_test_id("diff")
    await expect(diff.locator("td.old")).to_have_text("Budget")
    await expect(diff.locator("td.new")).to_have_text("Budget by Ann")
    await ann.screenshot("history")

    await versions.locator('[data-version="2"]').get_by_role("button", name="Restore").click()
    await expect(versions.locator('[data-version="5"]')).to_contain_text("ann")
    await expect(bob.field("title")).to_have_value("Budget")
    await expect(bob.block("Budget")).to_be_visible()
    await ann.panel.get_by_role("button", name="Details").click()
    await expect(ann.field("title")).to_have_value("Budget")


async def test_a_viewers_edit_is_refused_with_a_message(new_page: NewPage) -> None:
    """A viewer who types into the event is told the server refused it, and nothing changes."""
    ann, bob = await two_people_sharing(new_page, "Standup", "viewer")
    await expect(bob.notice).to_contain_text("View only")

    await bob.edit("title", "Bob was here")
    await expect(bob.notice).to_contain_text("You can view this event but not edit it")
    await expect(bob.field("title")).to_have_value("Standup")
    await bob.screenshot("viewer-refused")
    await expect(ann.field("title")).to_have_value("Standup")


async def test_role_changes_and_revocation_take_effect_live(new_page: NewPage) -> None:
    """The owner downgrades, then removes, a collaborator who has the event open."""
    ann, bob = await two_people_sharing(new_page, "Retro", "editor")
    await expect(bob.panel.get_by_test_id("role")).to_have_text("editor")

    await ann.panel.get_by_role("button", name="Share").click()
    await ann.permission("bob").get_by_label("Role of bob").select_option("viewer")
    await expect(bob.panel.get_by_test_id("role")).to_have_text("viewer")
    await expect(bob.notice).to_contain_text("View only")
    await ann.screenshot("share-dialog")

    await ann.permission("bob").get_by_role("button", name="Remove").click()
    await expect(ann.permission("bob")).to_have_count(0)
    await expect(bob.block("Retro")).to_have_count(0)
    await expect(bob.panel).to_be_hidden()
    await expect(bob.toast("“Retro” is no longer shared with you")).to_be_visible()


async def test_an_invalid_edit_is_refused_with_the_servers_reason(new_page: NewPage) -> None:
    """An end before the start is not saved, and the field says why."""
    ann = await new_page()
    await ann.sign_up("ann")
    await ann.create_event("Lunch")
    day = (await ann.field("start_time").input_value()).split("T")[0]

    await ann.field("end_time").fill(f"{day}T08:00")
    error = ann.page.locator('[data-field="end_time"] .field-error')
    await expect(error).to_contain_text("end_time must be after start_time")
    await expect(ann.field("end_time")).to_have_value(f"{day}T11:00")
