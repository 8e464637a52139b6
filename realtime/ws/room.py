"""One event's room on this process: one broadcast subscription, delivery in version order.

Each room runs one task (its pump) that handles, strictly one at a time, what
arrives from the broadcast and what its local sockets ask (join, leave,
presence). Because the pump is the only writer of a room's state, ordering needs
no locks:

- The subscription is made before the pump reads anything from the database, so
  a version committed while a client joins is either in the snapshot the join
  read or arrives afterwards through the subscription: nothing falls in between.
- `version` is the last version delivered to the room's sockets. A broadcast
  version at or below it is a duplicate and dropped; one above `version + 1`
  means versions were missed (two processes committing close together, a Redis
  hiccup), and the pump reads them from the version log before going on. A
  `Resync` from the broadcast does the same. So a lost or reordered message costs
  latency, never a gap.
- Members on other processes are kept with their process. When `Liveness` finds a
  process gone silent, every room drops its members as if they had left.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from realtime import codec
from realtime.broadcast import Broadcast, BroadcastUnavailable, Delivery, Message, Resync
from realtime.ops import metrics
from realtime.usecases.notify import patch_message
from realtime.wire import event_json
from realtime.ws.connection import Connection
from realtime.ws.listener import RETRY_AFTER_OUTAGE
from realtime.ws.messages import Frame
from realtime.ws.presence import Member, RoomPresence
from storage import events as event_store
from storage import history
from storage import permissions as permission_store
from storage.database import AsyncConnection
from storage.errors import ErrorCode, ServiceUnavailable, TandemError

if TYPE_CHECKING:
    from realtime.ws.rooms import Rooms

log = logging.getLogger(__name__)

# A `since` further back than this gets the whole event instead of the patches.
MAX_CATCH_UP = 500
# Broadcast deliveries waiting for the pump; past this the room re-reads the log.
INBOX_LIMIT = 10_000


@dataclass(slots=True)
class LocalMember:
    connection: Connection
    state: Any
    # The last version this socket has been sent (in `joined` or since).
    version: int
    # As last told to the socket (`joined`, then `access`).
    role: str
    # No-op acks naming a version the socket has not been sent yet, in version order.
    acks: list[tuple[int, Frame]] | None = None

    def as_member(self) -> Member:
        return self.connection.member(self.state)


class Room:
    def __init__(self, rooms: Rooms, event_id: int) -> None:
        self.event_id = event_id
        self._rooms = rooms
        self.members: dict[str, LocalMember] = {}
        self.version: int | None = None
        self._inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._catch_up_pending = False
        self.presence = RoomPresence(event_id, lambda: self.submit("flush"), self._publish)
        self.task = asyncio.create_task(self._run(), name=f"room-{event_id}")

    def submit(self, *command: Any) -> None:
        self._inbox.put_nowait(command)

    @property
    def _broadcast(self) -> Broadcast:
        return self._rooms.broadcast

    async def _run(self) -> None:
        channel = self._rooms.channels.event(self.event_id)
        try:
            async with self._broadcast.subscribe(channel, on_delivery=self._received):
                await self._publish({"type": "presence_sync"})
                await self._pump()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("room %s stopped", self.event_id)
        finally:
            self._rooms.discard(self)
            self._release_waiting()

    def _received(self, delivery: Delivery) -> None:
        """From the broadcast, in its order: queued with the room's other work."""
        if self._inbox.qsize() > INBOX_LIMIT:
            delivery = Resync(delivery.channel, "overflow")
        self.submit("delivery", delivery)

    async def _pump(self) -> None:
        while True:
            command = await self._inbox.get()
            try:
                await self._handle(*command)
            except asyncio.CancelledError:
                raise
            except ServiceUnavailable:
                if command[0] == "delivery":
                    self._catch_up_later(command[1])
            except Exception:
                log.exception("room %s: %s failed", self.event_id, command[0])
            if not self.members and self._inbox.empty():
                await self._flush_presence()
                # Checked and removed with no await in between, so no join can
                # be queued to a room that is going away.
                if self._inbox.empty():
                    self._rooms.discard(self)
                    return

    def _catch_up_later(self, delivery: Message | Resync) -> None:
        """The database could not be read for a delivery (a gap to fill, a resync): what
        it owes the sockets is still in the version log. Read it again in a moment, as a
        resync (with the failed one's reason, so a reconnect still asks for presence)."""
        if self._catch_up_pending:
            return
        log.warning(
            "room %s: database unavailable, catching up in %s s", self.event_id, RETRY_AFTER_OUTAGE
        )
        self._catch_up_pending = True
        reason = delivery.reason if isinstance(delivery, Resync) else "database"
        resync = Resync(self._rooms.channels.event(self.event_id), reason)
        asyncio.get_running_loop().call_later(RETRY_AFTER_OUTAGE, self._retry_catch_up, resync)

    def _retry_catch_up(self, resync: Resync) -> None:
        self._catch_up_pending = False
        self.submit("delivery", resync)

    async def _handle(self, kind: str, *args: Any) -> None:
        if kind == "delivery":
            await self._on_delivery(args[0])
        elif kind == "join":
            await self._join(*args)
        elif kind == "leave":
            connection, done = args
            self._leave(connection)
            if done is not None:
                done.set_result(None)
        elif kind == "presence":
            member = self.members.get(args[0].socket_id)
            if member is not None:
                member.state = args[1]
                self.presence.changed("updated", member.as_member())
        elif kind == "ack":
            self._acknowledge(*args)
        elif kind == "flush":
            await self._flush_presence()
        elif kind == "process_gone":
            self.presence.forget_process(args[0])
        elif kind == "presence_sync":
            await self._publish({"type": "presence_sync"})

    async def _join(
        self, connection: Connection, since: int | None, done: asyncio.Future[None]
    ) -> None:
        try:
            joined = await self._read_join(connection, since)
        except Exception as exc:  # handed to the joining socket, which answers an error
            if not done.done():
                done.set_exception(exc)
            return
        # What was gathered before this socket joined is news only to the others.
        await self._flush_presence()
        member = LocalMember(connection, None, joined["version"], joined["role"])
        self.members[connection.socket_id] = member
        joined["members"] = [m.as_member() for m in self.members.values()]
        joined["members"] += self.presence.remote_members()
        connection.send(Frame(joined))
        self.presence.changed("joined", member.as_member())
        if not done.done():
            done.set_result(None)

    async def _read_join(self, connection: Connection, since: int | None) -> dict[str, Any]:
        database, user_id = self._rooms.database, connection.user_id
        event, role = await event_store.read_visible_event(database, self.event_id, user_id)
        patches = None
        if since is not None or (self.version is not None and event.version > self.version):
            # Versions to read as well: again, all in one snapshot.
            async with database.read() as conn:
                event, role = await event_store.get_visible_event(conn, self.event_id, user_id)
                if self.version is None:
                    self.version = event.version
                else:  # the database is ahead of the stream: the others catch up first
                    await self._deliver_missed(conn, event.version)
                if since is not None and 0 <= event.version - since <= MAX_CATCH_UP:
                    patches = await history.versions_between(
                        conn, self.event_id, since, event.version
                    )
        elif self.version is None:
            self.version = event.version
        joined: dict[str, Any] = {
            "type": "joined",
            "event_id": self.event_id,
            "role": role,
            "version": event.version,
        }
        if patches is not None:
            joined["patches"] = [
                {
                    k: v
                    for k, v in patch_message(self.event_id, p).items()
                    if k not in ("type", "event_id")
                }
                for p in patches
            ]
        else:
            joined["event"] = event_json(event, role)
        return joined

    def _acknowledge(self, connection: Connection, version: int, frame: Frame) -> None:
        """Send a no-op ack once the socket has been sent `version`, the one it names.

        The edit read that version from the database, possibly before its broadcast
        reached this room; sent at once, the ack would come before it. A socket no
        longer here (removed meanwhile) is answered at once: the room's order is not its.
        """
        member = self.members.get(connection.socket_id)
        if member is None or member.version >= version:
            connection.send(frame)
        elif member.acks is None:
            member.acks = [(version, frame)]
        else:
            member.acks.append((version, frame))

    def _leave(self, connection: Connection) -> None:
        member = self.members.pop(connection.socket_id, None)
        connection.rooms.discard(self.event_id)
        connection.pending_ops.pop(self.event_id, None)
        if member is None:
            return
        # No-op acks still waiting for their version are owed all the same: the socket
        # leaves the stream they were ordered in, so they go now.
        for _, ack in member.acks or ():
            connection.send(ack)
        self.presence.changed("left", member.as_member())

    async def _on_delivery(self, delivery: Message | Resync) -> None:
        if isinstance(delivery, Resync):
            log.info("room %s: resync (%s)", self.event_id, delivery.reason)
            # First who may still be here: a revoke published while the broadcast
            # was away never arrived, and the versions caught up next are not theirs.
            await self._recheck_members()
            await self._catch_up()
            if delivery.reason == "reconnected":
                await self._publish({"type": "presence_sync"})
            return
        message = codec.decode_json(delivery.payload)
        kind = message.get("type")
        if kind == "patch":
            await self._on_version(message)
        elif kind == "access":
            self._on_access(message)
        elif kind == "removed":
            self._on_removed(message)
        elif kind in ("presence", "presence_sync"):
            self._on_remote_presence(message)

    async def _on_version(self, message: dict[str, Any]) -> None:
        if self.version is None:
            return  # nobody has joined yet; the first join reads the database
        version = message["version"]
        if version <= self.version:
            return  # already delivered (from the log, or an echo)
        _observe_delay(message.get("at"))
        if version == self.version + 1:
            self._deliver(message)
        else:
            await self._catch_up()

    async def _recheck_members(self) -> None:
        """Bring every member's role in line with the database: `access` or `removed`."""
        if not self.members:
            return
        users = {m.connection.user_id for m in self.members.values()}
        async with self._rooms.database.read() as conn:
            roles = await permission_store.roles_of(conn, self.event_id, users)
            deleted = roles.keys() != users and not await event_store.exists(conn, self.event_id)
        gone = "deleted" if deleted else "revoked"
        for member in list(self.members.values()):
            role = roles.get(member.connection.user_id)
            if role is None:
                # Read from the database, not heard: no notice to match.
                member.connection.send_removed(self.event_id, gone, notice=None)
                self._leave(member.connection)
            elif role != member.role:
                member.role = role
                member.connection.send(
                    Frame({"type": "access", "event_id": self.event_id, "role": role})
                )

    async def _catch_up(self) -> None:
        """Deliver every version after `self.version` from the version log."""
        if self.version is None:
            return
        async with self._rooms.database.read() as conn:
            await self._deliver_missed(conn)

    async def _deliver_missed(self, conn: AsyncConnection, upto: int | None = None) -> None:
        """Deliver the versions after `self.version` (to `upto`) from the version log."""
        assert self.version is not None
        for record in await history.versions_between(conn, self.event_id, self.version, upto):
            self._deliver(patch_message(self.event_id, record))

    def _deliver(self, message: dict[str, Any]) -> None:
        """Send one version to every socket that has not had it: `ack` to its author's socket."""
        version, op_id = message["version"], message["op_id"]
        frame = Frame(message)  # encoded once for all the sockets below
        for member in self.members.values():
            if member.version >= version:
                continue
            connection = member.connection
            pending = connection.pending_ops.get(self.event_id)
            if (
                op_id is not None
                and pending
                and op_id in pending
                and message["author_id"] == connection.user_id
            ):
                pending.discard(op_id)
                connection.send(
                    Frame(
                        {
                            "type": "ack",
                            "event_id": self.event_id,
                            "op_id": op_id,
                            "version": version,
                        }
                    )
                )
            else:
                connection.send(frame)
            member.version = version
            while member.acks and member.acks[0][0] <= version:
                connection.send(member.acks.pop(0)[1])
        self.version = version

    def _on_access(self, message: dict[str, Any]) -> None:
        frame = Frame({"type": "access", "event_id": self.event_id, "role": message["role"]})
        for member in self.members.values():
            if member.connection.user_id == message["user_id"]:
                member.role = message["role"]
                member.connection.send(frame)

    def _on_removed(self, message: dict[str, Any]) -> None:
        reason, notice = message["reason"], message.get("notice")
        users = set(message["user_ids"])
        for member in list(self.members.values()):
            if reason == "deleted" or member.connection.user_id in users:
                member.connection.send_removed(self.event_id, reason, notice)
                self._leave(member.connection)

    def _on_remote_presence(self, message: dict[str, Any]) -> None:
        process = message.get("process")
        if not isinstance(process, str) or process == self._broadcast.process_id:
            return  # our own, already applied locally
        self._rooms.liveness.heard(process)
        if message["type"] == "presence_sync":
            self.presence.announce(m.as_member() for m in self.members.values())
        else:
            self.presence.heard(process, message)

    async def _flush_presence(self) -> None:
        await self.presence.flush(m.connection for m in self.members.values())

    async def _publish(self, message: dict[str, Any]) -> None:
        message["process"] = self._broadcast.process_id
        try:
            await self._broadcast.publish(
                self._rooms.channels.event(self.event_id), codec.encode_json(message)
            )
        except BroadcastUnavailable:
            log.info("room %s: presence not shared, broadcast unavailable", self.event_id)

    def _release_waiting(self) -> None:
        """The room is gone: a waiting join fails, a waiting leave is done."""
        while not self._inbox.empty():
            command = self._inbox.get_nowait()
            if command[0] == "join" and not command[3].done():
                command[3].set_exception(
                    TandemError(ErrorCode.UNAVAILABLE, "the room is closing; join again")
                )
            elif command[0] == "leave" and command[2] is not None and not command[2].done():
                command[2].set_result(None)


def _observe_delay(committed_at: object) -> None:
    """Time from commit to arrival here; across hosts, only as exact as their clocks.

    `at` is format_time's, so the C parser reads it: parse_time's RFC 3339 checks cost
    each delivery ten times as much, for a value this server wrote itself.
    """
    if not isinstance(committed_at, str):
        return
    try:
        committed = datetime.fromisoformat(committed_at)
    except ValueError:
        return
    if committed.tzinfo is None:
        return
    delay = (datetime.now(UTC) - committed).total_seconds()
    metrics.BROADCAST_DELAY.observe(max(0.0, delay))
