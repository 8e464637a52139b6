"""Which other server processes are alive, so that the presence of a dead one is withdrawn.

A process that exits cleanly says goodbye through its rooms; one that is killed or
loses its host says nothing. So every process publishes `alive` on one channel every
`interval` seconds, and takes a process it has not heard from for MISSES intervals
as gone. One heard from again after that (it was stalled, or cut off from Redis) is
reported back, so that presence can be exchanged anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from realtime import codec
from realtime.broadcast import Broadcast, BroadcastUnavailable
from realtime.ws.listener import Listener

log = logging.getLogger(__name__)

MISSES = 3
# Gone processes are remembered this many intervals, to notice one coming back.
REMEMBER_GONE = 720


class Liveness:
    def __init__(
        self,
        broadcast: Broadcast,
        channel: str,
        interval: float,
        *,
        on_gone: Callable[[str], None],
        on_back: Callable[[str], None],
    ) -> None:
        self._broadcast = broadcast
        self._channel = channel
        self._interval = interval
        self._on_gone = on_gone
        self._on_back = on_back
        self._last_heard: dict[str, float] = {}
        self._gone: dict[str, float] = {}  # process -> when it was declared gone
        self._listener: Listener | None = None
        self._beating: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._listener = Listener(self._broadcast, self._channel, self._on_message)
        await self._listener.ready.wait()
        self._beating = asyncio.create_task(self._beat(), name="liveness")

    async def stop(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
        if self._listener is not None:
            await self._listener.stop()

    def heard(self, process: str) -> None:
        """`process` is alive now (any message from it says so)."""
        if process == self._broadcast.process_id:
            return
        self._last_heard[process] = asyncio.get_running_loop().time()
        if self._gone.pop(process, None) is not None:
            log.info("process %s is back", process)
            self._on_back(process)

    def _on_message(self, message: dict[str, object]) -> None:
        process = message.get("process")
        if message.get("type") == "alive" and isinstance(process, str):
            self.heard(process)

    async def _beat(self) -> None:
        alive = codec.encode_json({"type": "alive", "process": self._broadcast.process_id})
        while True:
            with contextlib.suppress(BroadcastUnavailable):
                await self._broadcast.publish(self._channel, alive)
            self._expire(asyncio.get_running_loop().time())
            await asyncio.sleep(self._interval)

    def _expire(self, now: float) -> None:
        silent_since = now - MISSES * self._interval
        for process, last in list(self._last_heard.items()):
            if last < silent_since:
                del self._last_heard[process]
                self._gone[process] = now
                log.warning("process %s went silent; withdrawing its presence", process)
                self._on_gone(process)
        forget_before = now - REMEMBER_GONE * self._interval
        for process, since in list(self._gone.items()):
            if since < forget_before:
                del self._gone[process]
