"""The sockets of this process, by login session and by user, and the channels that reach them.

One subscription per process carries logouts; one per connected user carries
`access` and `removed` notices for events that user has not joined (joined
rooms get them through the room). Subscriptions are shared, never one per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from realtime import codec
from realtime.broadcast import Broadcast, Message
from realtime.usecases.notify import Channels
from realtime.ws.connection import CLOSE_UNAUTHENTICATED, Connection
from realtime.ws.messages import Frame
from storage import sessions as session_store
from storage.database import Database
from storage.errors import ErrorCode, TandemError

log = logging.getLogger(__name__)


class Listener:
    """A task that feeds one channel's messages to a callback, subscribed before `ready`.

    Messages missed while Redis was away are lost; `on_resync`, when given, runs after
    such a gap so that the owner can read what it missed from the database.
    """

    def __init__(
        self,
        broadcast: Broadcast,
        channel: str,
        on_message: Callable[[dict[str, Any]], None],
        on_resync: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.channel = channel
        self._broadcast = broadcast
        self._on_message = on_message
        self._on_resync = on_resync
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"listen-{channel}")

    async def _run(self) -> None:
        async with self._broadcast.subscribe(self.channel) as subscription:
            self.ready.set()
            async for delivery in subscription:
                try:
                    if isinstance(delivery, Message):
                        self._on_message(codec.decode_json(delivery.payload))
                    elif self._on_resync is not None:
                        await self._on_resync()
                except Exception:
                    log.exception("listener %s: handling %r failed", self.channel, delivery)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Hub:
    def __init__(self, broadcast: Broadcast, channels: Channels, database: Database) -> None:
        self._broadcast = broadcast
        self._channels = channels
        self._database = database
        self._by_login: dict[str, set[Connection]] = defaultdict(set)
        self._by_user: dict[int, set[Connection]] = defaultdict(set)
        self._users: dict[int, Listener] = {}
        self._sessions: Listener | None = None

    @property
    def connections(self) -> int:
        return sum(len(c) for c in self._by_user.values())

    async def start(self) -> None:
        self._sessions = Listener(
            self._broadcast,
            self._channels.sessions,
            self._on_session_message,
            on_resync=self._close_revoked_sessions,
        )
        await self._sessions.ready.wait()

    async def add(self, connection: Connection) -> None:
        """Register a socket; returns once its user's notices can reach it."""
        self._by_login[connection.login_session].add(connection)
        self._by_user[connection.user_id].add(connection)
        listener = self._users.get(connection.user_id)
        if listener is None:
            user_id = connection.user_id
            listener = self._users[user_id] = Listener(
                self._broadcast,
                self._channels.user(user_id),
                lambda message: self._on_user_message(user_id, message),
            )
        await listener.ready.wait()

    def moved(self, connection: Connection, old_login_session: str) -> None:
        """The socket swapped in a token of another login session of the same user."""
        self._discard(self._by_login, old_login_session, connection)
        self._by_login[connection.login_session].add(connection)

    async def remove(self, connection: Connection) -> None:
        self._discard(self._by_login, connection.login_session, connection)
        self._discard(self._by_user, connection.user_id, connection)
        if connection.user_id not in self._by_user:
            listener = self._users.pop(connection.user_id, None)
            if listener is not None:
                await listener.stop()

    async def say_goodbye(self, code: int, reason: str, timeout: float) -> None:
        """Close every socket and wait (at most `timeout` s) for the close frames to go out."""
        sockets = [c for group in self._by_user.values() for c in group]
        for connection in sockets:
            connection.close(code, reason)
        if sockets:
            await asyncio.wait(
                [asyncio.ensure_future(c.finish()) for c in sockets], timeout=timeout
            )

    async def stop(self) -> None:
        for listener in [*self._users.values(), *([self._sessions] if self._sessions else [])]:
            await listener.stop()
        self._users.clear()

    def _on_session_message(self, message: dict[str, Any]) -> None:
        if message.get("type") == "session_revoked":
            self._close_session(message["session_id"])

    async def _close_revoked_sessions(self) -> None:
        """Logouts published while Redis was away never arrived: ask the database."""
        if not self._by_login:
            return
        async with self._database.read() as conn:
            revoked = await session_store.revoked_among(conn, set(self._by_login))
        for session_id in revoked:
            self._close_session(session_id)

    def _close_session(self, session_id: str) -> None:
        logged_out = TandemError(ErrorCode.TOKEN_REVOKED, "logged out")
        for connection in list(self._by_login.get(session_id, ())):
            connection.send_error(logged_out, close=CLOSE_UNAUTHENTICATED)

    def _on_user_message(self, user_id: int, message: dict[str, Any]) -> None:
        kind, event_id = message.get("type"), message.get("event_id")
        if kind == "access":
            frame = Frame({"type": "access", "event_id": event_id, "role": message["role"]})
        elif kind == "removed":
            frame = Frame({"type": "removed", "event_id": event_id, "reason": message["reason"]})
        else:
            return
        for connection in list(self._by_user.get(user_id, ())):
            if event_id not in connection.rooms:  # the room tells joined sockets itself
                connection.send(frame)

    @staticmethod
    def _discard(index: dict[Any, set[Connection]], key: Any, connection: Connection) -> None:
        sockets = index.get(key)
        if sockets is not None:
            sockets.discard(connection)
            if not sockets:
                del index[key]
