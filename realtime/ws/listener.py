"""A shared subscription to one broadcast channel, feeding its messages to a callback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from realtime import codec
from realtime.broadcast import Broadcast, Message

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
