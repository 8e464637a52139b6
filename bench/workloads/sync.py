"""Sync timings for R1's user: the first sync of every event (pages of 500), then an
incremental sync after a burst of changes (each a one-field patch of another event)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.api import Account

PAGE = 500


@dataclass(frozen=True)
class SyncTiming:
    items: int
    pages: int
    seconds: float


@dataclass(frozen=True)
class SyncResult:
    first: SyncTiming
    changes: int
    incremental: SyncTiming


async def run(http: httpx.AsyncClient, user: Account, ids: list[int], changes: int) -> SyncResult:
    first, cursor = await _sync(http, user, None)
    for event_id in ids[:changes]:
        response = await http.patch(
            f"/events/{event_id}",
            json=[{"op": "replace", "path": "/description", "value": "synced"}],
            headers={**user.headers, "Content-Type": "application/json-patch+json"},
        )
        response.raise_for_status()
    incremental, _ = await _sync(http, user, cursor)
    return SyncResult(first, min(changes, len(ids)), incremental)


async def _sync(
    http: httpx.AsyncClient, user: Account, cursor: str | None
) -> tuple[SyncTiming, str]:
    """Pages until has_more is false: what they held, how many, how long in all."""
    items = pages = 0
    began = time.monotonic()
    more = True
    while more:
        params: dict[str, Any] = {"limit": PAGE}
        if cursor is not None:
            params["cursor"] = cursor
        response = await http.get("/sync", params=params, headers=user.headers)
        response.raise_for_status()
        body = response.json()
        items += len(body["items"])
        pages += 1
        cursor, more = body["next_cursor"], body["has_more"]
    assert cursor is not None
    return SyncTiming(items, pages, time.monotonic() - began), cursor
