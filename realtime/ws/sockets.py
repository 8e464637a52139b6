"""The sockets of this process, by login session and by user, and the channels that reach them.

One subscription per process carries logouts; one per connected user carries
`access` and `removed` notices for events that user has not joined (joined
rooms get them through the room). Subscriptions are shared, never one per socket.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from realtime.broadcast import Broadcast
from realtime.usecases.notify import Channels
from realtime.ws.connection import CLOSE_UNAUTHENTICATED, Connection
from realtime.ws.listener import Listener
from realtime.ws.messages import Frame
from storage import sessions as session_store
from storage.database import Database
from storage.errors import ErrorCode, TandemError


class Sockets:
    """The authenticated sockets of this process, by login session and by user."""

    def __init__(self, broadcast: Broadcast, channels: Channels, database: Database) -> None:
        self._broadcast = broadcast
        self._channels = channels
        self._database = database
        self._by_login: dict[str, set[Connection]] = defaultdict(set)
        self._by_user: dict[int, set[Connection]] = defaultdict(set)
        self._users: dict[int, Listener] = {}
        self._logouts: Listener | None = None

    async def start(self) -> None:
        self._logouts = Listener(
            self._broadcast,
            self._channels.sessions,
            self._on_logout_message,
            on_resync=self._close_revoked_logins,
        )
        await self._logouts.ready.wait()

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
        for listener in [*self._users.values(), *([self._logouts] if self._logouts else [])]:
            await listener.stop()
        self._users.clear()

    def _on_logout_message(self, message: dict[str, Any]) -> None:
        if message.get("type") == "session_revoked":
            self._close_login_session(message["session_id"])

    async def _close_revoked_logins(self) -> None:
        """Logouts published while Redis was away never arrived: ask the database."""
        if not self._by_login:
            return
        async with self._database.read() as conn:
            revoked = await session_store.revoked_among(conn, set(self._by_login))
        for session_id in revoked:
            self._close_login_session(session_id)

    def _close_login_session(self, session_id: str) -> None:
        logged_out = TandemError(ErrorCode.TOKEN_REVOKED, "logged out")
        for connection in list(self._by_login.get(session_id, ())):
            connection.send_error(logged_out, close=CLOSE_UNAUTHENTICATED)

    def _on_user_message(self, user_id: int, message: dict[str, Any]) -> None:
        kind, event_id = message.get("type"), message.get("event_id")
        if kind not in ("access", "removed") or not isinstance(event_id, int):
            return
        access = Frame({"type": "access", "event_id": event_id, "role": message.get("role")})
        for connection in list(self._by_user.get(user_id, ())):
            if event_id in connection.rooms:
                continue  # the room tells joined sockets itself, in order with its versions
            if kind == "access":
                connection.send(access)
            else:
                connection.send_removed(event_id, message["reason"], message.get("notice"))

    @staticmethod
    def _discard(index: dict[Any, set[Connection]], key: Any, connection: Connection) -> None:
        sockets = index.get(key)
        if sockets is not None:
            sockets.discard(connection)
            if not sockets:
                del index[key]
