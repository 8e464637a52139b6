"""Messages to publish, sent in batches: those queued while one batch is on its way go
together in the next, in order.

A busy process publishes a version per edit; one Redis PUBLISH each cost a write, a
read and redis-py's per-command path, about a tenth of a W1 edit's CPU
(bench/READING.md). Batched, a burst of edits pays them once. Nothing waits to fill a
batch: a message alone is sent at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Send = Callable[[list[tuple[str, bytes]]], Awaitable[None]]


class Outbox:
    def __init__(self, send: Send) -> None:
        # Sends one batch of (channel, message), in order, or raises for all of it.
        self._send = send
        self._queued: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def publish(self, channel: str, message: bytes) -> None:
        """Return once the batch holding this message was sent; raise what sending it
        raised. A caller that stops waiting does not take its message back."""
        future = asyncio.get_running_loop().create_future()
        self._queued.append((channel, message, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_queued(), name="broadcast-outbox")
        await future

    async def close(self) -> None:
        """Stop sending; anything still queued fails with ConnectionError."""
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        queued, self._queued = self._queued, []
        for _, _, future in queued:
            if not future.done():
                future.set_exception(ConnectionError("the broadcast was disconnected"))

    async def _send_queued(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    await self._send([(channel, message) for channel, message, _ in batch])
                except Exception as exc:
                    # Whatever the failure, every publisher of the batch must hear it
                    # (Redis' errors become BroadcastUnavailable there), or it waits forever.
                    _settle(batch, exc)
                except asyncio.CancelledError:
                    _settle(batch, ConnectionError("the broadcast was disconnected"))
                    raise
                else:
                    _settle(batch, None)
        finally:
            self._sender = None


def _settle(
    batch: list[tuple[str, bytes, asyncio.Future[None]]], error: BaseException | None
) -> None:
    for _, _, future in batch:
        if future.done():
            continue  # its publisher was cancelled
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
