"""The two asyncio primitives uvicorn's WebSocket protocol keeps for every socket, made small.

uvicorn gives each socket an asyncio.Queue of ASGI events (four deques and an Event)
and an asyncio.Event for its transport's write buffer (one more deque): some 3.7 KB
per socket that an idle one never uses. These keep the same methods and make their
deques and futures only while something waits (realtime/protocols.py swaps them in).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from uvicorn._types import ASGIReceiveEvent


class Inbox:
    """The ASGI events uvicorn's protocol hands the app, in place of its asyncio.Queue.

    A Queue is four deques and an Event, about 3 KB per socket. Here the events wait
    in a deque made only while some do, and a waiter is made only while the app's
    task waits. After `detach`, an event calls `on_event` instead (the app takes it
    with `get_nowait`), so no task needs to wait at all.
    """

    __slots__ = ("_events", "_waiter", "on_event")

    def __init__(self) -> None:
        self._events: deque[ASGIReceiveEvent] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.on_event: Callable[[], None] | None = None

    def put_nowait(self, event: ASGIReceiveEvent) -> None:
        if self._events is None:
            self._events = deque()
        self._events.append(event)
        if self.on_event is not None:
            self.on_event()
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._events

    def get_nowait(self) -> ASGIReceiveEvent | None:
        if not self._events:
            return None
        event = self._events.popleft()
        if not self._events:
            self._events = None
        return event

    async def get(self) -> ASGIReceiveEvent:
        while (event := self.get_nowait()) is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return event


class Gate:
    """asyncio.Event's set, clear, is_set and wait, with no deque per socket: waiters
    are made only while the transport's buffer is full and someone waits."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._open

    def clear(self) -> None:
        self._open = False

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self) -> None:
        if self._open:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
