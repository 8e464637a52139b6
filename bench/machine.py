"""The machine and the services the figures were measured on."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis


def describe() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text().split()
    ram_gib = int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024
    return {
        "CPU": model,
        "cores": str(os.cpu_count()),
        "RAM": f"{ram_gib:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": sys.version.split()[0],
    }


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def postgres_version(database_url: str) -> str:
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def redis_version(redis_url: str) -> str:
    client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=5)
    try:
        info = await client.info("server")
        return str(info["redis_version"])
    finally:
        await client.aclose()
