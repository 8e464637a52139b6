"""Who is in a room, and the coalesced presence deltas waiting for the next tick.

Presence is best effort and separate from the version stream: a room gathers the
changes of one tick (its own sockets' and those heard from other processes) and
sends one delta per member, encoded once for every member it says nothing about.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from realtime.ws.connection import Connection
from realtime.ws.messages import Frame

Member = dict[str, Any]  # the wire's {session, user_id, username, state}

KINDS = ("joined", "left", "updated")

# Presence changes are gathered this long and sent as one delta per member.
PRESENCE_TICK = 0.03


class PresenceDelta:
    """Changes gathered during one tick: per socket, the latest of each kind.

    A socket that joined and set its state within one tick appears in both
    `joined` and `updated`, so clients see the same kinds whatever the timing.
    """

    def __init__(self) -> None:
        self._changes: dict[str, dict[str, Member]] = {kind: {} for kind in KINDS}

    def __bool__(self) -> bool:
        return any(self._changes.values())

    def add(self, kind: str, member: Member) -> None:
        socket_id = member["session"]
        if kind == "left":
            self._changes["updated"].pop(socket_id, None)
        self._changes[kind][socket_id] = member

    def take(self) -> dict[str, list[Member]]:
        grouped = {kind: list(members.values()) for kind, members in self._changes.items()}
        for members in self._changes.values():
            members.clear()
        return grouped


def without_socket(delta: dict[str, list[Member]], socket_id: str) -> dict[str, list[Member]]:
    """The delta as one member sees it: nothing about itself."""
    return {
        kind: [m for m in members if m["session"] != socket_id] for kind, members in delta.items()
    }


class RoomPresence:
    """One room's members on other processes, and the changes waiting for the next tick.

    Only the room's pump calls it; `on_tick` is called once per tick that has changes
    and must bring the pump back to `flush`.
    """

    def __init__(
        self,
        event_id: int,
        on_tick: Callable[[], None],
        publish: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        self._event_id = event_id
        self._on_tick = on_tick
        self._publish = publish
        # Members on other processes, by socket id: (their process, the member).
        self._remote: dict[str, tuple[str, Member]] = {}
        self._for_locals = PresenceDelta()  # to send to this process's sockets
        self._for_others = PresenceDelta()  # to publish to the other processes
        self._tick_pending = False

    def remote_members(self) -> list[Member]:
        return [member for _, member in self._remote.values()]

    def changed(self, kind: str, member: Member) -> None:
        """A socket of this process joined, left or updated its state."""
        self._for_locals.add(kind, member)
        self._for_others.add(kind, member)
        self._schedule()

    def announce(self, members: Iterable[Member]) -> None:
        """A process opened this room: tell it who is here."""
        for member in members:
            self._for_others.add("joined", member)
        self._schedule()

    def heard(self, process: str, message: dict[str, Any]) -> None:
        """Another process's delta."""
        for kind in KINDS:
            for member in message.get(kind, []):
                if kind == "left":
                    self._remote.pop(member["session"], None)
                else:
                    self._remote[member["session"]] = (process, member)
                self._for_locals.add(kind, member)
        self._schedule()

    def forget_process(self, process: str) -> None:
        """A process died without saying goodbye: its members have left."""
        for socket_id, (where, member) in list(self._remote.items()):
            if where == process:
                del self._remote[socket_id]
                self._for_locals.add("left", member)
        self._schedule()

    async def flush(self, sockets: Iterable[Connection]) -> None:
        """Send what the tick gathered to this process's `sockets` and to the other processes."""
        self._tick_pending = False
        if self._for_locals:
            delta = self._for_locals.take()
            # One frame, encoded once, for every member the delta says nothing about;
            # only the sockets it names get one of their own (without themselves).
            shared = Frame({"type": "presence", "event_id": self._event_id, **delta})
            named = {m["session"] for members in delta.values() for m in members}
            for connection in sockets:
                if connection.socket_id not in named:
                    connection.send(shared)
                    continue
                mine = without_socket(delta, connection.socket_id)
                if any(mine.values()):
                    connection.send(Frame({"type": "presence", "event_id": self._event_id, **mine}))
        if self._for_others:
            await self._publish({"type": "presence", **self._for_others.take()})

    def _schedule(self) -> None:
        if not self._tick_pending:
            self._tick_pending = True
            asyncio.get_running_loop().call_later(PRESENCE_TICK, self._on_tick)
