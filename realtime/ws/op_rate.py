"""The per-socket patch rate: a moving window kept by the socket itself.

`limits`' MovingWindowRateLimiter on its MemoryStorage cost every patch a lock, a
list insert at the front, and a new timer thread every 10 ms to expire entries.
A socket's patches are handled one at a time on the event loop, so its window
needs none of that: the send times of its last `amount` patches.
"""

from __future__ import annotations

from collections import deque

from limits import parse


class OpRate:
    __slots__ = ("_times", "amount", "period")

    def __init__(self, rate: str) -> None:
        item = parse(rate)
        self.amount = item.amount
        self.period = float(item.get_expiry())
        # Made on the first patch: most sockets only watch.
        self._times: deque[float] | None = None

    def hit(self, now: float) -> float | None:
        """Count one patch at `now` (seconds); refused: None, or the seconds until one may pass."""
        times = self._times
        if times is None:
            times = self._times = deque()
        while times and times[0] <= now - self.period:
            times.popleft()
        if len(times) >= self.amount:
            return times[0] + self.period - now
        times.append(now)
        return None
