"""The sync guarantee under fire: random changes from several users over REST and
WebSocket (two servers on PostgreSQL + Redis, or one on SQLite) while every user's
syncing client pages through /sync at random moments. At the end each copy must
equal what GET /events answers, event by event and version by version, and every
audit chain must still verify."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from storage import audit_trail
from storage.database import Database
from tests.conftest import REDIS_URL, migrated, require_service
from tests.support import (
    Account,
    RunningServer,
    distributed_settings,
    register,
    server_settings,
    start_pair,
    start_server,
    title_ops,
)
from tests.sync_client import SyncingClient, everything_visible
from tests.ws_client import WSClient, connect

pytestmark = pytest.mark.timeout(180)

USERS = 4
STEPS_PER_USER = 30
SEED = 20261206
PATCH = {"Content-Type": "application/json-patch+json"}
# Answers a random action may get besides success: it raced another user's change.
REFUSALS = {403, 404, 409}


@dataclass
class Actor:
    account: Account
    rng: random.Random
    http: list[httpx.AsyncClient]
    sockets: list[WSClient]
    view: dict[int, str] = field(default_factory=dict)  # event id -> my role, as last listed
    done: Counter[str] = field(default_factory=Counter)  # actions that took effect, by kind

    def client(self) -> httpx.AsyncClient:
        return self.rng.choice(self.http)

    async def look(self) -> None:
        listed = await everything_visible(self.client(), self.account.headers)
        self.view = {event_id: event["role"] for event_id, event in listed.items()}

    def pick(self, *roles: str) -> int | None:
        found = sorted(e for e, role in self.view.items() if role in roles)
        return self.rng.choice(found) if found else None


def ok(actor: Actor, kind: str, response: httpx.Response) -> None:
    assert response.status_code < 300 or response.status_code in REFUSALS, response.text
    if response.status_code < 300:
        actor.done[kind] += 1


async def step(actor: Actor, others: list[Account]) -> None:
    """One random action of `actor`, chosen among what its last look allows."""
    rng, headers = actor.rng, actor.account.headers
    await actor.look()
    kind = rng.choices(
        ["create", "rest_edit", "ws_edit", "share", "role", "revoke", "leave", "delete"],
        weights=[3, 4, 4, 3, 2, 2, 1, 1],
    )[0]
    owned, editable = actor.pick("owner"), actor.pick("owner", "editor")
    if kind == "create" or (owned is None and editable is None):
        body = {
            "title": f"made by {actor.account.username}",
            "start_time": "2026-03-02T08:00:00Z",
            "end_time": "2026-03-02T09:00:00Z",
        }
        ok(actor, "create", await actor.client().post("/api/v1/events", json=body, headers=headers))
    elif kind in ("rest_edit", "ws_edit") and editable is not None:
        title = f"t{rng.randrange(10**6)}"
        if kind == "rest_edit":
            url = f"/api/v1/events/{editable}"
            response = await actor.client().patch(
                url, json=title_ops(title), headers={**headers, **PATCH}
            )
            ok(actor, kind, response)
        elif await ws_edit(rng.choice(actor.sockets), editable, title):
            actor.done[kind] += 1
    elif kind in ("share", "role") and owned is not None:
        target = rng.choice(others)
        role = rng.choice(["editor", "viewer"] + (["owner"] if kind == "role" else []))
        if kind == "share":
            grant = {"users": [{"user_id": target.id, "role": role}]}
            url = f"/api/v1/events/{owned}/share"
            ok(actor, kind, await actor.client().post(url, json=grant, headers=headers))
        else:
            url = f"/api/v1/events/{owned}/permissions/{target.id}"
            ok(actor, kind, await actor.client().put(url, json={"role": role}, headers=headers))
    elif kind == "revoke" and owned is not None:
        listed = await actor.client().get(f"/api/v1/events/{owned}/permissions", headers=headers)
        members = [p["user_id"] for p in listed.json().get("items", []) if p["role"] != "owner"]
        target_id = rng.choice(members) if members else rng.choice(others).id
        url = f"/api/v1/events/{owned}/permissions/{target_id}"
        ok(actor, kind, await actor.client().delete(url, headers=headers))
    elif kind == "leave" and (shared := actor.pick("editor", "viewer")) is not None:
        url = f"/api/v1/events/{shared}/permissions/{actor.account.id}"
        ok(actor, kind, await actor.client().delete(url, headers=headers))
    elif kind == "delete" and owned is not None:
        ok(actor, kind, await actor.client().delete(f"/api/v1/events/{owned}", headers=headers))


async def ws_edit(socket: WSClient, event_id: int, title: str) -> bool:
    """Join, patch at the version joined, leave; whether the edit was applied (a lost
    race is an expected refusal)."""
    reply = await socket.join_reply(event_id)
    if reply["type"] != "joined":
        assert reply["code"] in ("not_found", "forbidden"), reply
        return False
    answer = await socket.submit(event_id, title_ops(title), base_version=reply["version"])
    if answer["type"] == "error":
        assert answer["code"] in ("version_conflict", "forbidden", "not_found"), answer
    await socket.leave(event_id)
    return answer["type"] == "ack"


async def fuzz(servers: list[RunningServer], database_url: str, seed: int) -> None:
    async with clients_of(servers) as http:
        accounts = [await register(http[0]) for _ in range(USERS)]
        actors = []
        for index, account in enumerate(accounts):
            sockets = [
                await connect(s.ws_url, account.access_token, name=f"{account.username}@{n}")
                for n, s in enumerate(servers)
            ]
            actors.append(Actor(account, random.Random(seed + index), http, sockets))
        syncing = [
            SyncingClient(http[i % len(http)], a.headers, limit=3) for i, a in enumerate(accounts)
        ]
        writing = True

        async def keep_syncing(client: SyncingClient, rng: random.Random) -> None:
            # Pages at random moments, between and during the writers' commits.
            while writing:
                await client.page()
                await asyncio.sleep(rng.uniform(0, 0.03))

        async def act(actor: Actor) -> None:
            others = [a for a in accounts if a.id != actor.account.id]
            for _ in range(STEPS_PER_USER):
                await step(actor, others)

        readers = [
            asyncio.create_task(keep_syncing(client, random.Random(seed - n)))
            for n, client in enumerate(syncing)
        ]
        try:
            await asyncio.gather(*(act(actor) for actor in actors))
        finally:
            writing = False
            await asyncio.gather(*readers)
            for actor in actors:
                for socket in actor.sockets:
                    await socket.close()
        for account, client in zip(accounts, syncing, strict=True):
            await client.catch_up()
            expected = await everything_visible(http[0], account.headers)
            assert client.copy == expected, f"{account.username}'s copy differs"
        assert sum(len(client.copy) for client in syncing) > 0
        done = sum((actor.done for actor in actors), Counter())
        kinds = ("create", "rest_edit", "ws_edit", "share", "role", "revoke", "leave", "delete")
        assert all(done[kind] > 0 for kind in kinds), done
    database = Database(database_url)
    try:
        async with database.read() as conn:
            assert await audit_trail.verify(conn) is None
    finally:
        await database.close()


@contextlib.asynccontextmanager
async def clients_of(servers: list[RunningServer]) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One HTTP client per server, closed together."""
    clients = [httpx.AsyncClient(base_url=s.url, timeout=30) for s in servers]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()


@pytest.fixture
async def sqlite_server(tmp_path: Any) -> AsyncIterator[tuple[RunningServer, str]]:
    url = await migrated(f"sqlite:///{tmp_path / 'tandem.db'}")
    running = await start_server(server_settings(database_url=url))
    try:
        yield running, url
    finally:
        await running.stop()


async def test_sync_copies_match_the_calendar_on_sqlite(
    sqlite_server: tuple[RunningServer, str],
) -> None:
    """One process on SQLite: every syncing copy ends equal to GET /events."""
    server, url = sqlite_server
    await fuzz([server], url, SEED)


async def test_sync_copies_match_the_calendar_on_two_postgres_processes(
    shared_postgres: str,
) -> None:
    """Two processes on PostgreSQL + Redis: every syncing copy ends equal to GET /events."""
    await require_service("redis")
    servers = await start_pair(distributed_settings(shared_postgres, REDIS_URL))
    try:
        await fuzz(servers, shared_postgres, SEED)
    finally:
        await asyncio.gather(*(s.stop() for s in servers))
