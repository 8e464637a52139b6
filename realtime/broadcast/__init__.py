"""Publish/subscribe between rooms, in this process and across processes.

One interface, backends chosen by URL (`create_broadcast`): `memory://` delivers within
this process; `redis://` and `rediss://` also cross processes through Redis pub/sub.

A publisher delivers to the subscribers of its own process directly, before anything
goes to Redis: local delivery never waits on Redis, and never fails because of it.

Delivery is a fast path, not the truth (the version log in the database is). A
subscriber that receives a `Resync` may have missed messages and must re-read what it
cares about from the database. Every subscription has a bounded queue: a slow
subscriber gets a `Resync("overflow")` instead of growing memory or stalling anyone.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "Broadcast",
    "BroadcastUnavailable",
    "Delivery",
    "Message",
    "Resync",
    "Subscription",
    "SubscriptionClosed",
    "create_broadcast",
]

logger = logging.getLogger(__name__)

# Whole default queue of one subscription: about a second of a busy room. Past it the
# subscriber re-reads the database, which is cheaper than holding a longer backlog.
DEFAULT_MAX_QUEUE = 1000


class BroadcastUnavailable(Exception):
    """The backend cannot be reached: the message reached only this process's subscribers."""


class SubscriptionClosed(Exception):
    """`get()` on a subscription that was left, or whose broadcast disconnected."""


@dataclass(frozen=True)
class Message:
    channel: str
    payload: bytes


@dataclass(frozen=True)
class Resync:
    """Messages may be missing before this point: re-read the truth from the database.

    reason is "overflow" (the subscriber's queue was full, messages were dropped),
    "reconnected" (the Redis connection came back; messages sent meanwhile were lost) or,
    made by a room itself, "database" (it could not read the version log for a gap).
    """

    channel: str
    reason: str


Delivery: TypeAlias = Message | Resync


class Subscription:
    """One consumer of one channel; `async with broadcast.subscribe(channel) as sub`.

    Read with `get()` or `async for`, from a bounded queue; or, with `on_delivery`, have
    every delivery handed over at once instead, synchronously, by whoever delivers it
    (a publisher of this process, the backend's reader). Such a callback must neither
    block nor raise, and bounds its own backlog: a room queues deliveries with the rest
    of its work, and reading them through a queue and a task of their own first cost
    each delivery a task wake-up (bench/READING.md).
    """

    def __init__(
        self,
        broadcast: Broadcast,
        channel: str,
        max_queue: int,
        on_delivery: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.channel = channel
        self._broadcast = broadcast
        self._max_queue = max_queue
        self._on_delivery = on_delivery
        self._queue: deque[Delivery] = deque()
        self._ready = asyncio.Event()
        self._state = "new"  # new -> open -> closed, never back

    def __repr__(self) -> str:
        return f"Subscription({self.channel!r}, {self._state}, queued={len(self._queue)})"

    async def __aenter__(self) -> Subscription:
        if self._state != "new":
            raise RuntimeError("a Subscription can be entered only once")
        self._state = "open"
        try:
            await self._broadcast._attach(self)
        except BaseException:
            self._close()
            await self._broadcast._detach(self)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._state == "open":
            self._close()
            await self._broadcast._detach(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Delivery:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    async def get(self) -> Delivery:
        """The next delivery, waiting for one; SubscriptionClosed once closed."""
        if self._on_delivery is not None:
            raise RuntimeError("this subscription hands its deliveries to its callback")
        while True:
            # A closed subscription ends at once: what is still queued is dropped, since
            # nobody who left (or a process shutting down) wants a backlog.
            if self._state == "closed":
                raise SubscriptionClosed(f"subscription to {self.channel!r} is closed")
            if self._queue:
                return self._queue.popleft()
            if self._state == "new":
                raise RuntimeError("enter the subscription (`async with`) before reading it")
            self._ready.clear()
            await self._ready.wait()

    def _push(self, message: Message) -> None:
        """Queue a message without ever blocking the caller (a publisher or a reader)."""
        if self._state != "open":
            return
        if self._on_delivery is not None:
            self._on_delivery(message)
            return
        if len(self._queue) >= self._max_queue:
            # Drop this message and the backlog too: the subscriber re-reads the truth
            # on the Resync, so stale messages would only cost it time to skip.
            logger.warning("subscriber of %r fell %d messages behind", self.channel, len(self))
            self._queue.clear()
            self._queue.append(Resync(self.channel, "overflow"))
        else:
            self._queue.append(message)
        self._ready.set()

    def _resync(self, reason: str) -> None:
        if self._state != "open":
            return
        if self._on_delivery is not None:
            self._on_delivery(Resync(self.channel, reason))
            return
        if len(self._queue) >= self._max_queue:
            self._queue.clear()
        self._queue.append(Resync(self.channel, reason))
        self._ready.set()

    def _close(self) -> None:
        self._state = "closed"
        self._queue.clear()
        self._ready.set()  # wake every waiting get() so that it raises

    def __len__(self) -> int:
        return len(self._queue)


class Broadcast:
    """The interface, and the local fan-out that every backend shares."""

    def __init__(self, url: str) -> None:
        self._url = url
        # Tags every message this process sends to Redis, so that it drops its own echoes.
        self.process_id = secrets.token_hex(8)
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._connected = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_url(self._url)!r})"

    @property
    def url(self) -> str:
        """The URL without its password, fit for logs."""
        return redact_url(self._url)

    async def connect(self) -> None:
        if self._connected:
            raise RuntimeError(f"{self!r} is already connected")
        await self._connect_backend()
        self._connected = True

    async def disconnect(self) -> None:
        """Close the backend and end every subscription's iteration; safe to repeat."""
        if not self._connected:
            return
        self._connected = False
        subscriptions = [sub for subs in self._subscriptions.values() for sub in subs]
        self._subscriptions.clear()
        for sub in subscriptions:
            sub._close()
        await self._disconnect_backend()

    async def publish(self, channel: str, payload: bytes) -> None:
        """Deliver to this process's subscribers, then to other processes' (if any).

        Raises BroadcastUnavailable when other processes cannot be reached; local
        subscribers have the message by then.
        """
        self._require_connected()
        self._deliver(channel, payload)
        await self._publish_remote(channel, payload)

    def subscribe(
        self,
        channel: str,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        on_delivery: Callable[[Delivery], None] | None = None,
    ) -> Subscription:
        """A subscription to `channel`, read from its queue or handed to `on_delivery`
        (see Subscription)."""
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue}")
        return Subscription(self, channel, max_queue, on_delivery)

    async def healthy(self) -> bool:
        return True

    # What a backend provides.

    async def _connect_backend(self) -> None:
        pass

    async def _disconnect_backend(self) -> None:
        pass

    async def _publish_remote(self, channel: str, payload: bytes) -> None:
        pass

    async def _channel_joined(self, channel: str) -> None:
        """A subscription to `channel` was added; return once it receives what is published."""

    async def _channel_left(self, channel: str) -> None:
        """The last local subscription to `channel` was closed."""

    # Shared machinery.

    def _require_connected(self) -> None:
        if not self._connected:
            raise RuntimeError(f"{self!r} is not connected: call connect() first")

    def _deliver(self, channel: str, payload: bytes) -> None:
        subs = self._subscriptions.get(channel)
        if not subs:
            return
        message = Message(channel, payload)  # one object, shared by every subscriber
        for sub in subs:
            sub._push(message)

    def _resync(self, channel: str, reason: str) -> None:
        for sub in self._subscriptions.get(channel, ()):
            sub._resync(reason)

    async def _attach(self, sub: Subscription) -> None:
        self._require_connected()
        self._subscriptions.setdefault(sub.channel, set()).add(sub)
        await self._channel_joined(sub.channel)

    async def _detach(self, sub: Subscription) -> None:
        subs = self._subscriptions.get(sub.channel)
        if subs is None or sub not in subs:
            return  # already gone: the broadcast disconnected
        subs.discard(sub)
        if not subs:
            del self._subscriptions[sub.channel]
            await self._channel_left(sub.channel)


def create_broadcast(url: str) -> Broadcast:
    """The backend named by the URL's scheme; Redis is imported only when asked for."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from realtime.broadcast.memory import MemoryBroadcast

        return MemoryBroadcast(url)
    if scheme in ("redis", "rediss"):
        from realtime.broadcast.redis import RedisBroadcast

        return RedisBroadcast(url)
    raise ValueError(
        f"unsupported broadcast URL scheme {scheme!r} in {redact_url(url)!r}: "
        "use memory://, redis:// or rediss://"
    )


def redact_url(url: str) -> str:
    """`url` with any password (in the authority or a `password=` query) replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        username = userinfo.partition(":")[0]
        netloc = f"{username}:***@{hostport}"
    query = parts.query
    if "password" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing secret; urlunsplit would also turn sqlite:/// into sqlite:/
    return urlunsplit(parts._replace(netloc=netloc, query=query))
