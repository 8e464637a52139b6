"""REST calls the workloads need to set up: users, events, sharing.

A few users are registered once per server set and their tokens reused by every
connection, so that no workload spends its time in the server's password hashing.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

API = "/api/v1"
BATCH_LIMIT = 500  # the contract's largest batch
PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def http_client(base_url: str, concurrency: int = 16) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=base_url + API, timeout=120, limits=limits)


async def register(http: httpx.AsyncClient, prefix: str) -> Account:
    username = f"{prefix}-{secrets.token_hex(4)}"
    response = await http.post(
        "/auth/register",
        json={
            "username": username,
            "email": f"{username}@bench.example",
            "password": secrets.token_urlsafe(12),
        },
    )
    response.raise_for_status()
    body = response.json()
    return Account(body["user"]["id"], username, body["access_token"])


def format_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# Open-ended series start in the five years before R1's month (June 2026).
OPEN_ENDED_FROM = datetime(2021, 6, 1, 8, tzinfo=UTC)


def documents(count: int, first: int = 0) -> list[dict[str, Any]]:
    """Events spread over two years from 2026; every tenth one recurs weekly for a year,
    and a third of those carry overrides (two occurrences moved a day, one renamed).

    One in a hundred is an open-ended series (daily or weekly, alternately) that
    began up to five years before June 2026: the shape a long-lived calendar has.
    """
    start = datetime(2026, 1, 1, 8, tzinfo=UTC)
    docs = []
    for n in range(first, first + count):
        begin = start + timedelta(hours=(n * 7) % (2 * 365 * 24))
        recurrence = ["RRULE:FREQ=WEEKLY;COUNT=52"] if n % 10 == 0 else []
        if n % 100 == 5:
            begin = OPEN_ENDED_FROM + timedelta(days=(n * 37) % (5 * 365), hours=n % 11)
            recurrence = ["RRULE:FREQ=DAILY" if n % 200 == 5 else "RRULE:FREQ=WEEKLY"]
        doc: dict[str, Any] = {
            "title": f"Event {n}",
            "start_time": format_time(begin),
            "end_time": format_time(begin + timedelta(minutes=45)),
            "timezone": "Europe/Paris",
            "recurrence": recurrence,
        }
        if n % 30 == 0:
            doc["overrides"] = _overrides(n, begin)
        docs.append(doc)
    return docs


def _overrides(n: int, begin: datetime) -> dict[str, Any]:
    """Weeks 5 and 20 moved a day later and retitled, week 30 renamed."""
    moved = {
        format_time(week): {
            "title": f"Event {n} (moved)",
            "start_time": format_time(week + timedelta(days=1)),
            "end_time": format_time(week + timedelta(days=1, minutes=45)),
        }
        for week in (_weeks_later(begin, 5), _weeks_later(begin, 20))
    }
    return {**moved, format_time(_weeks_later(begin, 30)): {"title": f"Event {n} (renamed)"}}


def _weeks_later(begin: datetime, weeks: int) -> datetime:
    """The start of a weekly Paris event's occurrence `weeks` later (same local clock time)."""
    local = begin.astimezone(PARIS).replace(tzinfo=None) + timedelta(weeks=weeks)
    return local.replace(tzinfo=PARIS).astimezone(UTC)


async def create_events(http: httpx.AsyncClient, owner: Account, count: int) -> list[int]:
    """`count` events of `owner` through the batch API; answers their ids."""
    ids: list[int] = []
    while len(ids) < count:
        size = min(BATCH_LIMIT, count - len(ids))
        response = await http.post(
            "/events/batch",
            json={"events": documents(size, first=len(ids))},
            headers=owner.headers,
        )
        response.raise_for_status()
        ids.extend(item["id"] for item in response.json()["items"])
    return ids


async def share(
    http: httpx.AsyncClient, owner: Account, event_ids: list[int], users: list[Account], role: str
) -> None:
    grants = {"users": [{"user_id": user.id, "role": role} for user in users]}

    async def one(event_id: int) -> None:
        response = await http.post(f"/events/{event_id}/share", json=grants, headers=owner.headers)
        response.raise_for_status()

    await asyncio.gather(*(one(event_id) for event_id in event_ids))
