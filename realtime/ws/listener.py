"""A shared subscription to one broadcast channel, feeding its messages to a callback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from realtime import codec
from realtime.broadcast import Broadcast, Message
from storage.errors import ServiceUnavailable

log = logging.getLogger(__name__)

# Seconds between tries to read what a broadcast gap owes while the database is down.
RETRY_AFTER_OUTAGE = 1.0


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
        self._resyncing: asyncio.Task[None] | None = None
        self._resync_owed = False
        self.task = asyncio.create_task(self._run(), name=f"listen-{channel}")

    async def _run(self) -> None:
        async with self._broadcast.subscribe(self.channel) as subscription:
            self.ready.set()
            async for delivery in subscription:
                try:
                    if isinstance(delivery, Message):
                        self._on_message(codec.decode_json(delivery.payload))
                    elif self._on_resync is not None:
                        self._resync_owed = True
                        if self._resyncing is None:
                            self._resyncing = asyncio.create_task(self._resync(self._on_resync))
                except Exception:
                    log.exception("listener %s: handling %r failed", self.channel, delivery)

    async def _resync(self, on_resync: Callable[[], Awaitable[None]]) -> None:
        """Run `on_resync` until the database has answered it after the last gap (it may
        be down as well), beside the messages, which need no database. A resync that
        fails is tried again: until one succeeds, the sockets may be missing versions."""
        try:
            while self._resync_owed:
                self._resync_owed = False
                try:
                    await on_resync()
                except Exception as exc:
                    # An outage is waited out; anything else is a fault, logged whole. Either
                    # way it is tried again: giving up would leave the sockets behind for good.
                    self._resync_owed = True
                    if isinstance(exc, ServiceUnavailable):
                        log.warning(
                            "listener %s: database unavailable, resyncing in %s s",
                            self.channel,
                            RETRY_AFTER_OUTAGE,
                        )
                    else:
                        log.exception(
                            "listener %s: resync failed; again in %s s",
                            self.channel,
                            RETRY_AFTER_OUTAGE,
                        )
                    await asyncio.sleep(RETRY_AFTER_OUTAGE)
        finally:
            self._resyncing = None

    async def stop(self) -> None:
        for task in (self.task, self._resyncing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
