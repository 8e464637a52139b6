"""What a process remembers of its last edits (storage/last_writes.py): the editor's own,
the most recent first, within its capacity."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.last_writes import LastWrite, LastWrites
from storage.records import EventRecord

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def written(event_id: int, user_id: int = 1, version: int = 2) -> LastWrite:
    record = EventRecord(event_id, user_id, version, {"title": "t"}, NOW, NOW, user_id, "uid")
    return LastWrite(record, f"head-{event_id}-{version}", user_id, "owner")


def test_only_the_same_editor_gets_the_last_write() -> None:
    memory = LastWrites()
    memory.remember(written(7, user_id=1))
    assert memory.get(7, 1) == written(7, user_id=1)
    assert memory.get(7, 2) is None
    assert memory.get(8, 1) is None


def test_a_newer_write_replaces_and_forget_drops() -> None:
    memory = LastWrites()
    memory.remember(written(7, version=2))
    memory.remember(written(7, version=3))
    assert memory.get(7, 1) == written(7, version=3)
    memory.forget(7)
    memory.forget(7)  # forgetting twice is harmless
    assert memory.get(7, 1) is None


def test_the_least_recently_used_goes_first_beyond_capacity() -> None:
    memory = LastWrites(capacity=2)
    memory.remember(written(1))
    memory.remember(written(2))
    assert memory.get(1, 1) is not None  # 1 is now more recent than 2
    memory.remember(written(3))
    assert memory.get(2, 1) is None
    assert memory.get(1, 1) is not None and memory.get(3, 1) is not None
