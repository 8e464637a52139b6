"""What committed changes tell the live side, on broadcast channels that span processes.

Everything here runs after the transaction commits. A broadcast failure is only
logged: the database already holds the truth, and rooms catch up from the
version log when the broadcast comes back.
"""

from __future__ import annotations

import logging
from typing import Any

from realtime import codec
from realtime.broadcast import Broadcast, BroadcastUnavailable
from storage.document import format_time
from storage.records import VersionRecord

log = logging.getLogger(__name__)

SESSIONS_CHANNEL = "control:sessions"


def event_channel(event_id: int) -> str:
    return f"event:{event_id}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


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
    def __init__(self, broadcast: Broadcast) -> None:
        self._broadcast = broadcast

    async def version_committed(self, event_id: int, version: VersionRecord) -> None:
        await self._publish(event_channel(event_id), patch_message(event_id, version))

    async def role_changed(self, event_id: int, user_id: int, role: str) -> None:
        """Tell the user's sockets, in the room and on the user's own channel."""
        message = {"type": "access", "event_id": event_id, "role": role, "user_id": user_id}
        await self._publish(event_channel(event_id), message)
        await self._publish(user_channel(user_id), message)

    async def access_removed(self, event_id: int, user_ids: list[int], reason: str) -> None:
        """`revoked` for one user, `deleted` for everyone with access."""
        message = {"type": "removed", "event_id": event_id, "reason": reason, "user_ids": user_ids}
        await self._publish(event_channel(event_id), message)
        for user_id in user_ids:
            await self._publish(user_channel(user_id), message)

    async def session_revoked(self, session_id: str) -> None:
        """Close the sockets of a revoked login session on every process."""
        await self._publish(SESSIONS_CHANNEL, {"type": "session_revoked", "session_id": session_id})

    async def _publish(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self._broadcast.publish(channel, codec.encode_json(message))
        except BroadcastUnavailable:
            log.warning("broadcast unavailable: %s not pushed on %s", message["type"], channel)
