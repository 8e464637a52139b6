"""What committed changes tell the live side, on broadcast channels that span processes.

Everything here runs after the transaction commits. A broadcast failure is only
logged: the database already holds the truth, and rooms catch up from the
version log when the broadcast comes back.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from realtime import codec
from realtime.broadcast import Broadcast, BroadcastUnavailable
from storage.document import format_time
from storage.records import VersionRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Channels:
    """Broadcast channel names, under one namespace per deployment.

    Two deployments (or two test runs) sharing one Redis must not hear each
    other: both have an event 1.
    """

    namespace: str

    def event(self, event_id: int) -> str:
        return f"{self.namespace}:event:{event_id}"

    def user(self, user_id: int) -> str:
        return f"{self.namespace}:user:{user_id}"

    @property
    def sessions(self) -> str:
        return f"{self.namespace}:sessions"

    @property
    def processes(self) -> str:
        return f"{self.namespace}:processes"


def patch_message(event_id: int, version: VersionRecord) -> dict[str, Any]:
    """The contract's `patch` message for a committed version."""
    return {
        "type": "patch",
        "event_id": event_id,
        "version": version.version,
        "ops": version.ops,
        "author_id": version.author_id,
        "op_id": version.op_id,
        "at": format_time(version.at),
        "origin": version.origin,
    }


class Notifier:
    def __init__(self, broadcast: Broadcast, channels: Channels) -> None:
        self._broadcast = broadcast
        self._channels = channels

    async def version_committed(self, event_id: int, version: VersionRecord) -> None:
        await self._publish(self._channels.event(event_id), patch_message(event_id, version))

    async def role_changed(self, event_id: int, user_id: int, role: str) -> None:
        """Tell the user's sockets, in the room and on the user's own channel."""
        message = {"type": "access", "event_id": event_id, "role": role, "user_id": user_id}
        await self._publish(self._channels.event(event_id), message)
        await self._publish(self._channels.user(user_id), message)

    async def access_removed(self, event_id: int, user_ids: list[int], reason: str) -> None:
        """`revoked` for one user, `deleted` for everyone with access.

        It goes to the event's room and to each user's channel (for sockets not in
        the room); `notice` lets a socket that hears it both ways tell it only once.
        """
        message = {
            "type": "removed",
            "event_id": event_id,
            "reason": reason,
            "user_ids": user_ids,
            "notice": secrets.token_hex(8),
        }
        await self._publish(self._channels.event(event_id), message)
        for user_id in user_ids:
            await self._publish(self._channels.user(user_id), message)

    async def session_revoked(self, session_id: str) -> None:
        """Close the sockets of a revoked login session on every process."""
        await self._publish(
            self._channels.sessions, {"type": "session_revoked", "session_id": session_id}
        )

    async def _publish(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self._broadcast.publish(channel, codec.encode_json(message))
        except BroadcastUnavailable:
            log.warning("broadcast unavailable: %s not pushed on %s", message["type"], channel)
