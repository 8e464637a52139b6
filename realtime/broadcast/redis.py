"""`redis://` and `rediss://`: local fan-out plus Redis pub/sub between processes.

Each process holds one pub/sub connection, read by one background task, with at most
one Redis SUBSCRIBE per channel however many local subscriptions share it. Publishing
uses a separate small pool, because a connection in subscribed mode cannot PUBLISH.

The reader takes each reply straight from the connection (hiredis parses it), without
redis-py's PubSub: its per-message layers (a timeout, a retry wrapper, a dict per
message) were most of what a delivery cost this process (bench/READING.md). A watchdog
beside it pings a connection that has gone quiet, and closes one that stays silent.

Envelope on the wire: `process_id + b":" + payload`. The process id is 16 hex digits
(never a colon), so the first colon ends it; the payload is passed through untouched.
A process drops envelopes carrying its own id: it delivered them locally already.

After the pub/sub connection is lost (Redis restarted, network cut) the reader retries
with capped backoff until `disconnect()`, on a fresh connection every time, subscribes
again to every current channel, and on each channel's confirmation hands a
`Resync("reconnected")` to that channel's subscribers: what was published meanwhile is
gone, and only the database can say what it was. Sending the Resync only once Redis has
confirmed the SUBSCRIBE means a subscriber that re-reads on it cannot miss a message
published between its re-read and the subscription taking effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from realtime.broadcast import Broadcast, BroadcastUnavailable
from realtime.broadcast.outbox import Outbox

logger = logging.getLogger(__name__)

# What "Redis cannot be reached" looks like (BusyLoadingError, raised while a restarted
# server loads its data, is a RedisConnectionError).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


class RedisBroadcast(Broadcast):
    def __init__(
        self,
        url: str,
        *,
        # Every Redis command (PUBLISH, SUBSCRIBE, PING, connecting) gives up after this.
        # A publisher then gets BroadcastUnavailable: its edit has already committed,
        # so it only needs to know quickly, not to wait for Redis.
        command_timeout: float = 2.0,
        # How long entering a subscription waits for Redis to confirm the SUBSCRIBE.
        subscribe_timeout: float = 2.0,
        # Reconnect delays: fast for a blip, then once a second for as long as it takes.
        backoff_initial: float = 0.05,
        backoff_max: float = 1.0,
        # A silent pub/sub connection is pinged after ping_interval; with no answer
        # within ping_timeout more it is presumed dead (a half-open TCP connection
        # would otherwise look like a quiet channel forever).
        ping_interval: float = 5.0,
        ping_timeout: float = 5.0,
    ) -> None:
        super().__init__(url)
        self._command_timeout = command_timeout
        self._subscribe_timeout = subscribe_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._prefix = self.process_id.encode() + b":"
        self._publisher: aioredis.Redis | None = None
        self._outbox = Outbox(self._publish_batch)
        self._listener: aioredis.ConnectionPool | None = None
        self._reader: asyncio.Task[None] | None = None
        # The live pub/sub connection, None while down. Only the reader replaces it.
        self._pubsub: AbstractConnection | None = None
        # When the pub/sub connection last said anything (the loop's clock).
        self._last_heard = 0.0
        # Channels SUBSCRIBEd on the current connection; changed only under _lock.
        self._remote: set[str] = set()
        self._lock = asyncio.Lock()
        # One future per SUBSCRIBE in flight, per channel, in sending order: Redis
        # confirms in that order, so each confirmation resolves the oldest one.
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = {}
        # Channels whose subscribers get a Resync when the new connection confirms them.
        self._resync_pending: set[str] = set()
        self._first_attempt = asyncio.Event()

    async def _connect_backend(self) -> None:
        name = f"tandem-broadcast-{self.process_id}"
        # No socket_timeout: redis-py then sends through asyncio.wait_for, which on
        # Python 3.11 can swallow a cancellation (the task would not stop). Every
        # command here runs under asyncio.timeout instead.
        common: dict[str, Any] = {"socket_connect_timeout": 2.0, "health_check_interval": 0}
        # The publisher may retry once: a pooled connection can be stale after a restart.
        self._publisher = aioredis.Redis.from_url(
            self._url, client_name=f"{name}-pub", retry=Retry(NoBackoff(), 1), **common
        )
        # The listener's connections come from this pool, one at a time, and are never
        # retried or reconnected by redis-py: a silent reconnect would hide the loss of
        # messages, and no subscriber would get its Resync.
        self._listener = aioredis.ConnectionPool.from_url(
            self._url, client_name=f"{name}-sub", retry=Retry(NoBackoff(), 0), **common
        )
        self._reader = asyncio.create_task(self._read_forever(), name=f"{name}-reader")
        try:
            # Wait for the first attempt only, so a server can start while Redis is
            # down: edits still commit, and delivery starts when Redis comes.
            await self._first_attempt.wait()
        except BaseException:
            await self._disconnect_backend()  # connect() was cancelled: leave nothing behind
            raise

    async def _disconnect_backend(self) -> None:
        reader, self._reader = self._reader, None
        # Cancel until it ends: a cancellation that lands as an awaited call completes
        # can be lost inside a library, and the reader must not outlive the broadcast.
        while reader is not None and not reader.done():
            reader.cancel()
            await asyncio.wait([reader], timeout=1.0)
        await self._drop(self._pubsub)
        await self._outbox.close()
        if self._publisher is not None:
            await self._publisher.aclose()
        if self._listener is not None:
            await self._listener.aclose()
        self._publisher = self._listener = None

    async def _publish_remote(self, channel: str, payload: bytes) -> None:
        try:
            await self._outbox.publish(channel, self._prefix + payload)
        except UNREACHABLE as exc:
            raise BroadcastUnavailable(
                f"Redis at {self.url} is unreachable; the message to {channel!r} reached "
                f"this process's subscribers only ({type(exc).__name__}: {exc})"
            ) from exc

    async def _publish_batch(self, batch: list[tuple[str, bytes]]) -> None:
        """Every PUBLISH of `batch` in one pipeline: one write, one read."""
        assert self._publisher is not None
        async with asyncio.timeout(self._command_timeout):
            async with self._publisher.pipeline(transaction=False) as pipeline:
                for channel, message in batch:
                    pipeline.publish(channel, message)
                await pipeline.execute()

    async def healthy(self) -> bool:
        if not self._connected or self._pubsub is None or self._publisher is None:
            return False
        try:
            async with asyncio.timeout(self._command_timeout):
                await self._publisher.ping()  # type: ignore[misc]  # typed sync-or-async
        except UNREACHABLE:
            return False
        return True

    async def _channel_joined(self, channel: str) -> None:
        await self._reconcile()
        pending = self._confirmations.get(channel)
        if not pending:
            return  # already confirmed, or Redis is down and a Resync will follow
        # Return only once Redis has confirmed, so that a caller who subscribes and then
        # reads the database cannot miss a message published in between.
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await asyncio.shield(pending[-1])
        except TimeoutError:
            logger.warning("Redis did not confirm SUBSCRIBE %r in time", channel)

    async def _channel_left(self, channel: str) -> None:
        await self._reconcile()

    async def _reconcile(self) -> None:
        """Make the connection's SUBSCRIBEs match the local subscriptions.

        Computing the difference under the lock, rather than sending one command per
        join or leave, keeps joins, leaves and a reconnect correct in any interleaving.
        """
        async with self._lock:
            pubsub = self._pubsub
            if pubsub is None:
                return  # down: the reader reconciles once it has a connection again
            wanted = set(self._subscriptions)
            extra = self._remote - wanted
            missing = wanted - self._remote
            try:
                async with asyncio.timeout(self._command_timeout):
                    await self._send_changes(pubsub, extra, missing)
            except UNREACHABLE as exc:
                # Closed, the connection fails the reader's wait, and the reader reconnects.
                logger.warning("Redis pub/sub command failed: %s", exc)
                await self._drop(pubsub)

    async def _send_changes(
        self, pubsub: AbstractConnection, extra: set[str], missing: set[str]
    ) -> None:
        if extra:
            self._remote -= extra
            self._resync_pending -= extra
            await _send(pubsub, "UNSUBSCRIBE", *extra)
        if missing:
            loop = asyncio.get_running_loop()
            for channel in missing:
                self._confirmations.setdefault(channel, deque()).append(loop.create_future())
            self._remote |= missing
            await _send(pubsub, "SUBSCRIBE", *missing)

    async def _read_forever(self) -> None:
        backoff = self._backoff_initial
        failures = 0
        while True:
            pubsub: AbstractConnection | None = None
            try:
                assert self._listener is not None
                pubsub = self._listener.make_connection()
                async with asyncio.timeout(self._command_timeout):
                    await pubsub.connect()
                async with self._lock:
                    # Everyone subscribed now may have missed messages while we were
                    # down; those who join later subscribe on the new connection.
                    self._pubsub = pubsub
                    self._remote = set()
                    self._resync_pending = set(self._subscriptions)
                if failures:
                    logger.warning("Redis pub/sub reconnected at %s", self.url)
                backoff, failures = self._backoff_initial, 0
                self._first_attempt.set()
                await self._reconcile()
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except UNREACHABLE as exc:
                failures += 1
                # Loud once per outage, quiet while it lasts.
                level = logging.WARNING if failures == 1 else logging.DEBUG
                logger.log(level, "Redis pub/sub at %s unavailable: %s; retrying", self.url, exc)
            except Exception:
                failures += 1
                logger.exception("unexpected error in the Redis broadcast reader; restarting it")
            self._first_attempt.set()
            self._lost(pubsub)
            await self._drop(pubsub)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max)

    async def _read(self, pubsub: AbstractConnection) -> None:
        """Dispatch what arrives until the connection fails (an exception) or is replaced."""
        loop = asyncio.get_running_loop()
        self._last_heard = loop.time()
        watchdog = asyncio.create_task(self._watch(pubsub))
        try:
            while True:
                if self._pubsub is not pubsub:
                    raise RedisConnectionError("pub/sub connection was lost")
                reply = await pubsub.read_response()
                self._last_heard = loop.time()
                try:
                    self._dispatch(reply)
                except Exception:
                    # One bad message must not cost everyone a reconnect and a Resync.
                    logger.exception("could not dispatch a Redis message: %.200r", reply)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _watch(self, pubsub: AbstractConnection) -> None:
        """PING a connection quiet for ping_interval; with no word within ping_timeout of
        the PING it is presumed dead (a half-open TCP connection would otherwise look like
        a quiet channel forever): closed, which ends the reader's wait with an error.

        Timed from the PING, not from the last word: a loop too busy to look in between
        would otherwise give up a live connection without ever asking it.
        """
        loop = asyncio.get_running_loop()
        pinged_at: float | None = None
        while True:
            await asyncio.sleep(min(1.0, self._ping_interval))
            now = loop.time()
            if pinged_at is not None and pinged_at < self._last_heard:
                pinged_at = None  # answered
            if pinged_at is not None and now - pinged_at > self._ping_timeout:
                logger.warning("no answer from Redis to PING; reconnecting")
                await self._drop(pubsub)
                return
            if pinged_at is None and now - self._last_heard > self._ping_interval:
                pinged_at = loop.time()
                try:
                    async with asyncio.timeout(self._ping_timeout):
                        await _send(pubsub, "PING")
                except UNREACHABLE as exc:
                    logger.warning("Redis pub/sub PING failed: %s", exc)
                    await self._drop(pubsub)
                    return

    def _dispatch(self, reply: list[Any]) -> None:
        """One reply of a connection in subscribed mode: [kind, channel, data or count]."""
        kind = reply[0]
        if kind == b"message":
            data: bytes = reply[2]
            if data.startswith(self._prefix):
                return  # our own echo: delivered locally when it was published
            channel = reply[1].decode()
            _sender, colon, payload = data.partition(b":")
            if colon:
                self._deliver(channel, payload)
            else:
                logger.warning("dropped a message on %r without a process id", channel)
        elif kind == b"subscribe":
            channel = reply[1].decode()
            pending = self._confirmations.get(channel)
            if pending:
                future = pending.popleft()
                if not future.done():
                    future.set_result(None)
                if not pending:
                    del self._confirmations[channel]
            if channel in self._resync_pending:
                self._resync_pending.discard(channel)
                self._resync(channel, "reconnected")

    def _lost(self, pubsub: AbstractConnection | None) -> None:
        """Forget a failed connection; release everyone waiting for a confirmation on it."""
        if pubsub is None or self._pubsub is not pubsub:
            return
        self._pubsub = None
        for pending in self._confirmations.values():
            for future in pending:
                if not future.done():
                    future.set_result(None)
        self._confirmations.clear()

    async def _drop(self, pubsub: AbstractConnection | None) -> None:
        self._lost(pubsub)
        if pubsub is None:
            return
        try:
            await pubsub.disconnect(nowait=True)
        except Exception as exc:  # it failed already; closing it may fail too
            logger.debug("closing a failed pub/sub connection: %r", exc)


async def _send(pubsub: AbstractConnection, *command: str) -> None:
    """Send a command on the pub/sub connection (its answer comes to the reader). Never on
    a closed one: redis-py would open it again unasked, and hide the loss."""
    if not pubsub.is_connected:
        raise RedisConnectionError("pub/sub connection was lost")
    await pubsub.send_command(*command)
