"""Figures from samples: rates and latency percentiles, plus the per-stream delivery check."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile (0 for no samples): p99 of 100 samples is the 99th."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """Latency figures in milliseconds."""

    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = [s * 1000 for s in seconds]
        return cls(len(ms), percentile(ms, 0.50), percentile(ms, 0.99), max(ms, default=0.0))


@dataclass
class Stream:
    """The versions one socket received for one event, checked as they arrive.

    The contract: every version after the joined one, exactly once, in order.
    """

    version: int  # the highest version received (the joined one at first)
    received: int = 0
    duplicated: int = 0
    reordered: int = 0  # arrivals that jumped over versions not received yet
    missing: set[int] = field(default_factory=set)  # jumped over and still not received

    def take(self, version: int) -> None:
        self.received += 1
        if version == self.version + 1:
            self.version = version
        elif version > self.version:
            self.reordered += 1
            self.missing.update(range(self.version + 1, version))
            self.version = version
        elif version in self.missing:
            self.missing.discard(version)  # late, not lost: counted when it was jumped over
        else:
            self.duplicated += 1


@dataclass
class StreamCheck:
    """The delivery check over many streams, against each event's final version."""

    streams: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, stream: Stream, final: int) -> None:
        self.streams += 1
        lost = len(stream.missing) + max(0, final - stream.version)
        self.lost += lost
        self.duplicated += stream.duplicated
        self.reordered += stream.reordered
        if (lost or stream.duplicated or stream.reordered) and len(self.problems) < 10:
            self.problems.append(
                f"{name}: lost {lost}, duplicated {stream.duplicated}, "
                f"out of order {stream.reordered} (at v{stream.version}, final v{final})"
            )

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.reordered)
