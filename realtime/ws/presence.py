"""Who is in a room, and the coalesced presence deltas waiting for the next tick."""

from __future__ import annotations

from typing import Any

Member = dict[str, Any]  # {session, user_id, username, state}

KINDS = ("joined", "left", "updated")


class PresenceDelta:
    """Changes gathered during one tick: per session, the latest of each kind.

    A session that joined and set its state within one tick appears in both
    `joined` and `updated`, so clients see the same kinds whatever the timing.
    """

    def __init__(self) -> None:
        self._changes: dict[str, dict[str, Member]] = {kind: {} for kind in KINDS}

    def __bool__(self) -> bool:
        return any(self._changes.values())

    def add(self, kind: str, member: Member) -> None:
        session = member["session"]
        if kind == "left":
            self._changes["updated"].pop(session, None)
        self._changes[kind][session] = member

    def take(self) -> dict[str, list[Member]]:
        grouped = {kind: list(members.values()) for kind, members in self._changes.items()}
        for members in self._changes.values():
            members.clear()
        return grouped


def without_session(delta: dict[str, list[Member]], session: str) -> dict[str, list[Member]]:
    """The delta as one member sees it: nothing about itself."""
    return {
        kind: [m for m in members if m["session"] != session] for kind, members in delta.items()
    }
