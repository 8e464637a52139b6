"""What this process's last edit of each recently edited event left behind.

The next edit of the event by the same editor can then be computed without reading the
row and written in one statement that checks the row is still so (storage.edits.
swap_edit): a live editor's patches cost one round trip each instead of four. Nothing
here is trusted: a stale entry only costs the failed statement and the locking path.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from storage.records import EventRecord

# Events edited recently enough to be worth remembering, per process; an entry holds
# one document (a few KB), so this bounds the memory at a few MB.
CAPACITY = 1024


@dataclass(frozen=True)
class LastWrite:
    """An event row as this process's last edit of it left it (records are never
    mutated, so the document is shared, not copied) and the editor's role then."""

    event: EventRecord
    audit_head: str
    user_id: int
    role: str


class LastWrites:
    """The `LastWrite` of the most recently edited events, least recent evicted first."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[int, LastWrite] = OrderedDict()

    def get(self, event_id: int, user_id: int) -> LastWrite | None:
        """The event's last write, if it was `user_id`'s."""
        last = self._entries.get(event_id)
        if last is None or last.user_id != user_id:
            return None
        self._entries.move_to_end(event_id)
        return last

    def remember(self, last: LastWrite) -> None:
        self._entries[last.event.id] = last
        self._entries.move_to_end(last.event.id)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, event_id: int) -> None:
        self._entries.pop(event_id, None)
