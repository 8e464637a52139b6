"""Changelog sentences: one natural, deterministic sentence per version."""

from __future__ import annotations

from typing import Any

from storage.changelog import summarize
from storage.patch_diff import diff_documents
from tests.storage.documents import document as full_document


def document(**fields: Any) -> dict[str, Any]:
    """A whole document without recurrence or metadata, so sentences stay short."""
    return full_document(**{"recurrence": [], "metadata": {}, **fields})


def test_create_names_the_title_and_local_start() -> None:
    """A create says the title and the start in the event's own time zone."""
    changes = diff_documents({}, document())
    assert (
        summarize("alice", "create", changes, "Europe/Paris")
        == 'alice created the event "Design review" on Monday 2 March 2026 at 09:00 (Europe/Paris).'
    )


def test_create_all_day_and_without_changes() -> None:
    """An all-day create gives the date only; a create without changes still reads well."""
    changes = diff_documents({}, document(all_day=True, start_time="2026-03-01T23:00:00Z"))
    assert (
        summarize("alice", "create", changes, "Europe/Paris")
        == 'alice created the event "Design review" on Monday 2 March 2026, all day (Europe/Paris).'
    )
    assert summarize("alice", "create", [], "UTC") == "alice created the event."


def test_rename() -> None:
    """A title-only change is a rename from the old to the new title."""
    changes = diff_documents(document(title="A"), document(title="B"))
    assert summarize("alice", "ws", changes, "Europe/Paris") == (
        'alice renamed the event from "A" to "B".'
    )


def test_move_within_a_day_shows_one_local_range() -> None:
    """Moving start and end gives the new local day and an en-dash time range."""
    new = document(start_time="2026-03-03T09:30:00Z", end_time="2026-03-03T10:30:00Z")
    changes = diff_documents(document(), new)
    assert summarize("bob", "rest", changes, "Europe/Paris") == (
        "bob moved the event to Tuesday 3 March 2026 at 10:30\u201311:30 (Europe/Paris)."
    )


def test_move_across_days_names_both_days() -> None:
    """An event spanning local midnight shows both dates; the zone is the new one."""
    new = document(
        start_time="2026-03-03T22:00:00Z", end_time="2026-03-04T01:00:00Z", timezone="Asia/Tokyo"
    )
    changes = diff_documents(document(), new)
    assert summarize("bob", "ws", changes, "Asia/Tokyo") == (
        "bob moved the event to Wednesday 4 March 2026 at 07:00\u201310:00 (Asia/Tokyo)"
        " and changed the time zone from Europe/Paris to Asia/Tokyo."
    )
    new = document(start_time="2026-03-02T22:00:00Z", end_time="2026-03-03T01:00:00Z")
    changes = diff_documents(document(), new)
    assert summarize("bob", "ws", changes, "Europe/Paris") == (
        "bob moved the event to Monday 2 March 2026 at 23:00 \u2013 Tuesday 3 March 2026"
        " at 02:00 (Europe/Paris)."
    )


def test_moving_one_end_only() -> None:
    """Changing only the end (or only the start) says which one moved."""
    changes = diff_documents(document(), document(end_time="2026-03-02T10:00:00Z"))
    assert summarize("bob", "ws", changes, "Europe/Paris") == (
        "bob moved the end to Monday 2 March 2026 at 11:00 (Europe/Paris)."
    )
    changes = diff_documents(document(), document(start_time="2026-03-02T07:00:00Z"))
    assert summarize("bob", "ws", changes, "Europe/Paris") == (
        "bob moved the start to Monday 2 March 2026 at 08:00 (Europe/Paris)."
    )


def test_several_fields_share_one_verb() -> None:
    """Several changes make one list, saying 'changed' once for a run of them."""
    old = document(title="A", metadata={"x": 1, "y": 2})
    new = document(title="B", location="Room 4", metadata={"x": 2, "z": 3})
    changes = diff_documents(old, new)
    assert summarize("carol", "rest", changes, "Europe/Paris") == (
        'carol changed the title from "A" to "B", the location to "Room 4" and 3 metadata keys.'
    )


def test_mixed_verbs_and_single_metadata_key() -> None:
    """Different verbs are each said; one metadata key is named, escaped as in its path."""
    old = document(location="Room 4", recurrence=["RRULE:FREQ=DAILY"], description="notes")
    new = document(metadata={"a/b": True}, all_day=True)
    changes = diff_documents(old, new)
    assert summarize("carol", "ws", changes, "UTC") == (
        "carol cleared the description, removed the location, made the event all-day,"
        ' removed the recurrence and added the metadata key "a~1b".'
    )


def test_rollback_uses_gerunds() -> None:
    """A rollback says it rolled back, then what that changed."""
    changes = diff_documents(document(title="B", location="Room 4"), document(title="A"))
    assert summarize("dave", "rollback", changes, "Europe/Paris") == (
        'dave rolled the event back, changing the title from "B" to "A" and removing the location.'
    )
    assert summarize("dave", "rollback", [], "Europe/Paris") == (
        "dave rolled the event back without changing anything."
    )


def test_no_changes() -> None:
    """An edit that changed nothing says so."""
    assert summarize("erin", "ws", [], "Europe/Paris") == "erin made no changes."
    assert summarize("erin", "rest", diff_documents(document(), document()), "UTC") == (
        "erin made no changes."
    )


def test_unknown_time_zone_falls_back_to_utc() -> None:
    """A zone name the system does not know is shown as UTC instead of failing."""
    changes = diff_documents({}, document())
    assert summarize("alice", "create", changes, "Mars/Olympus") == (
        'alice created the event "Design review" on Monday 2 March 2026 at 08:00 (UTC).'
    )


def test_summaries_are_deterministic() -> None:
    """Equal inputs give equal sentences."""
    changes = diff_documents(document(title="A"), document(title="B", metadata={"k": 1}))
    first = summarize("frank", "ws", changes, "Europe/Paris")
    assert first == summarize("frank", "ws", list(changes), "Europe/Paris")
    assert first == 'frank changed the title from "A" to "B" and added the metadata key "k".'
