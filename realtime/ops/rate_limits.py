"""Request rate limits: sign-in attempts per address and per username, API calls per user.

The counts live in memory in embedded mode and in Redis when the broadcast is
Redis, so that every process shares them. If Redis stops answering, each process
counts on its own until it is back: the limits stay on, only per process.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem
from limits import parse as parse_rate
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from starlette.requests import HTTPConnection

from realtime.settings import Settings
from storage.errors import ErrorCode, TandemError

log = logging.getLogger(__name__)

# Seconds a rate-limit count may wait on Redis before this process counts alone.
REDIS_TIMEOUT = 0.5


@dataclass(frozen=True)
class Quota:
    """Where a caller stands against one limit; sent back as RateLimit headers."""

    limit: int
    window: int
    remaining: int
    reset_after: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
            "RateLimit-Policy": f"{self.limit};w={self.window}",
        }


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self._per_ip = parse_rate(settings.auth_rate_per_ip)
        self._per_username = parse_rate(settings.auth_rate_per_username)
        self._per_user = parse_rate(settings.api_rate_per_user)
        storage: Storage = MemoryStorage()
        self._pool: ConnectionPool | None = None
        if settings.broadcast_url.startswith(("redis://", "rediss://")):
            # Our own pool, so that a Redis outage costs a request one short
            # timeout, and so that shutdown can close it.
            self._pool = ConnectionPool.from_url(
                settings.broadcast_url,
                socket_connect_timeout=REDIS_TIMEOUT,
                socket_timeout=REDIS_TIMEOUT,
            )
            storage = RedisStorage(
                settings.broadcast_url,
                implementation="redispy",
                key_prefix=f"{settings.broadcast_namespace}:limits",
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        self._shared = SlidingWindowCounterRateLimiter(storage)
        self._local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._storage_down = False

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def check_sign_in(self, request: HTTPConnection, username: object) -> None:
        """Count one login or register attempt; 429 when the address or name is over."""
        address = request.client.host if request.client else "unknown"
        await self._take(request, self._per_ip, "sign-in-ip", address)
        if isinstance(username, str) and username:
            await self._take(request, self._per_username, "sign-in-name", username.casefold())

    async def check_user(self, request: HTTPConnection, user_id: int) -> None:
        """Count one authenticated REST call; 429 when the user is over."""
        await self._take(request, self._per_user, "api-user", str(user_id))

    async def _take(
        self, request: HTTPConnection, item: RateLimitItem, scope: str, key: str
    ) -> None:
        allowed, quota = await self._hit(item, scope, key)
        # The tightest limit the request met is the one its headers describe.
        current: Quota | None = getattr(request.state, "rate_limit", None)
        if current is None or quota.remaining <= current.remaining:
            request.state.rate_limit = quota
        if not allowed:
            raise TandemError(
                ErrorCode.RATE_LIMITED,
                f"too many requests; try again in {quota.reset_after} s",
                {"retry_after": quota.reset_after},
            )

    async def _hit(self, item: RateLimitItem, scope: str, key: str) -> tuple[bool, Quota]:
        try:
            result = await self._count(self._shared, item, scope, key)
        except StorageError as exc:
            if not self._storage_down:
                log.warning("rate limit storage unavailable, counting per process: %s", exc)
                self._storage_down = True
            return await self._count(self._local, item, scope, key)
        if self._storage_down:
            log.info("rate limit storage is back")
            self._storage_down = False
        return result

    @staticmethod
    async def _count(
        limiter: SlidingWindowCounterRateLimiter, item: RateLimitItem, scope: str, key: str
    ) -> tuple[bool, Quota]:
        allowed = await limiter.hit(item, scope, key)
        stats = await limiter.get_window_stats(item, scope, key)
        reset_after = max(1, math.ceil(stats.reset_time - time.time()))
        quota = Quota(
            limit=item.amount,
            window=item.get_expiry(),
            remaining=max(0, stats.remaining),
            reset_after=reset_after,
        )
        return allowed, quota
