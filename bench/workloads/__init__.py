"""The workloads: W1/W2 (edits and fan-out), W3 (idle connections), R1 (REST).

Each takes a running `Deployment` and answers a result of plain figures; none of
them judges a figure (the report compares them with the goals).
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass

import httpx

from bench.api import Account, register
from bench.servers import Deployment


def progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Users:
    """One owner (the writer) and a few viewers whose tokens many sockets share."""

    owner: Account
    viewers: list[Account]


async def register_users(deployment: Deployment, viewers: int = 4) -> Users:
    async with httpx.AsyncClient(base_url=deployment.urls[0] + "/api/v1", timeout=60) as http:
        owner = await register(http, "owner")
        return Users(owner, [await register(http, "viewer") for _ in range(viewers)])


@dataclass(frozen=True)
class CpuUse:
    """Cores kept busy during a measured window: who was the bottleneck."""

    server: float
    generator: float


class CpuMeter:
    def __init__(self, deployment: Deployment) -> None:
        self._deployment = deployment
        self._began = time.monotonic()
        self._server = deployment.cpu_seconds()
        self._generator = _own_cpu()

    def read(self) -> CpuUse:
        elapsed = max(time.monotonic() - self._began, 1e-9)
        return CpuUse(
            round((self._deployment.cpu_seconds() - self._server) / elapsed, 2),
            round((_own_cpu() - self._generator) / elapsed, 2),
        )


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
