"""The event rooms of this process: made on the first join, gone after the last leave.

Each room (realtime.ws.room) runs its own pump; this registry routes a socket's
join, leave and presence to it, and tells every room when another process goes
silent or comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from realtime.broadcast import Broadcast
from realtime.ops import metrics
from realtime.usecases.notify import Channels
from realtime.ws.connection import Connection
from realtime.ws.liveness import Liveness
from realtime.ws.messages import Frame
from realtime.ws.room import Room
from storage.database import Database


class Rooms:
    """The rooms of this process, created on first join and gone after the last leave."""

    def __init__(
        self, database: Database, broadcast: Broadcast, channels: Channels, heartbeat: float
    ) -> None:
        self.database = database
        self.broadcast = broadcast
        self.channels = channels
        self._rooms: dict[int, Room] = {}
        self.liveness = Liveness(
            broadcast,
            channels.processes,
            heartbeat,
            on_gone=lambda process: self._tell_every_room("process_gone", process),
            # It may have missed who joined meanwhile, and we dropped its members.
            on_back=lambda process: self._tell_every_room("presence_sync"),
        )

    async def start(self) -> None:
        await self.liveness.start()

    def __len__(self) -> int:
        return len(self._rooms)

    async def join(self, connection: Connection, event_id: int, since: int | None) -> None:
        """Join (or rejoin) a room; the `joined` frame is queued on the socket."""
        room = self._rooms.get(event_id)
        if room is None:
            room = self._rooms[event_id] = Room(self, event_id)
            metrics.OPEN_ROOMS.inc()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        room.submit("join", connection, since, done)
        await done
        connection.rooms.add(event_id)

    async def leave(self, connection: Connection, event_id: int) -> None:
        """Leave a room; `left` is queued on the socket (also when it was not in it).

        Awaited like a join, so that the socket's next message (a join counted against
        MAX_ROOMS, a presence, another leave) sees the room left: the room's pump sends
        what it owes the socket, then forgets it, and `left` comes after that.
        """
        room = self._rooms.get(event_id)
        if room is not None and connection.socket_id in room.members:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            room.submit("leave", connection, done)
            await done
        connection.rooms.discard(event_id)
        connection.send(Frame({"type": "left", "event_id": event_id}))

    def leave_all(self, connection: Connection) -> None:
        for event_id in list(connection.rooms):
            room = self._rooms.get(event_id)
            if room is not None:
                room.submit("leave", connection, None)
        connection.rooms.clear()

    def set_presence(self, connection: Connection, event_id: int, state: Any) -> None:
        room = self._rooms.get(event_id)
        if room is not None:
            room.submit("presence", connection, state)

    def acknowledge(
        self, connection: Connection, event_id: int, version: int, frame: Frame
    ) -> None:
        """Send a no-op ack naming `version` in the room's stream, after that version."""
        room = self._rooms.get(event_id)
        if room is not None and connection.socket_id in room.members:
            room.submit("ack", connection, version, frame)
        else:
            connection.send(frame)

    def delivered_version(self, connection: Connection, event_id: int) -> int | None:
        room = self._rooms.get(event_id)
        member = room.members.get(connection.socket_id) if room else None
        return None if member is None else member.version

    def discard(self, room: Room) -> None:
        if self._rooms.get(room.event_id) is room:
            del self._rooms[room.event_id]
            metrics.OPEN_ROOMS.dec()

    def _tell_every_room(self, *command: Any) -> None:
        for room in self._rooms.values():
            room.submit(*command)

    async def close(self) -> None:
        await self.liveness.stop()
        rooms = list(self._rooms.values())
        for room in rooms:
            room.task.cancel()
        for room in rooms:
            with contextlib.suppress(asyncio.CancelledError):
                await room.task
