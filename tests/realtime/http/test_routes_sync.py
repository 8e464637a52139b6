"""Incremental sync (PROTOCOL.md v1.1, "Incremental sync"): listing, changes, cursors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from storage.database import Database
from tests.support import (
    RunningServer,
    create_event,
    eventually,
    register,
    server_settings,
    set_role,
    share,
    start_server,
    title_ops,
)
from tests.sync_client import SyncingClient, everything_visible

pytestmark = pytest.mark.timeout(120)

PATCH = {"Content-Type": "application/json-patch+json"}


async def edit(
    client: httpx.AsyncClient, headers: dict[str, str], event_id: int, title: str
) -> None:
    response = await client.patch(
        f"/api/v1/events/{event_id}", json=title_ops(title), headers={**headers, **PATCH}
    )
    assert response.status_code == 200, response.text


async def test_listing_then_every_kind_of_change(client: httpx.AsyncClient) -> None:
    """Pages list every visible event, then changes come oldest first, one item per event."""
    alice, bob = await register(client), await register(client)
    mine = [(await create_event(client, bob, title=f"bob {i}"))["id"] for i in range(3)]
    theirs = (await create_event(client, alice, title="alice's"))["id"]
    await share(client, alice, theirs, bob, "viewer")
    syncing = SyncingClient(client, bob.headers, limit=2)
    assert await syncing.page() is True
    await syncing.catch_up()
    assert sorted(syncing.copy) == sorted([*mine, theirs])
    assert syncing.pages == 2

    await edit(client, bob.headers, mine[0], "one")
    await edit(client, bob.headers, mine[0], "two")  # the same event, twice: one item
    await set_role(client, alice, theirs, bob, "editor")
    other = (await create_event(client, alice, title="shared later"))["id"]
    await share(client, alice, other, bob, "viewer")
    response = await client.get(
        "/api/v1/sync", params={"cursor": syncing.cursor}, headers=bob.headers
    )
    body = response.json()
    assert body["has_more"] is False
    events = {item["event"]["id"]: item["event"] for item in body["items"]}
    assert list(events) == [mine[0], theirs, other]
    assert events[mine[0]]["title"] == "two" and events[mine[0]]["version"] == 3
    assert events[theirs]["role"] == "editor"

    syncing.cursor = body["next_cursor"]
    await client.delete(f"/api/v1/events/{theirs}/permissions/{bob.id}", headers=alice.headers)
    await client.delete(f"/api/v1/events/{mine[1]}", headers=bob.headers)
    response = await client.get(
        "/api/v1/sync", params={"cursor": syncing.cursor}, headers=bob.headers
    )
    assert response.json()["items"] == [
        {"type": "removed", "event_id": theirs, "reason": "revoked"},
        {"type": "removed", "event_id": mine[1], "reason": "deleted"},
    ]
    # Alice's own feed never mentions Bob's events.
    alice_sync = SyncingClient(client, alice.headers)
    await alice_sync.catch_up()
    assert sorted(alice_sync.copy) == sorted([theirs, other])


async def test_an_ownership_transfer_reaches_every_member(client: httpx.AsyncClient) -> None:
    """A transfer changes owner_id for everyone with access, and each feed says so."""
    alice, bob, carol = await register(client), await register(client), await register(client)
    event = (await create_event(client, alice))["id"]
    await share(client, alice, event, bob, "editor")
    await share(client, alice, event, carol, "viewer")
    feeds = {user.id: SyncingClient(client, user.headers) for user in (alice, bob, carol)}
    for feed in feeds.values():
        await feed.catch_up()
    await set_role(client, alice, event, bob, "owner")
    for user in (alice, bob, carol):
        await feeds[user.id].catch_up()
        assert feeds[user.id].copy[event]["owner_id"] == bob.id
    assert feeds[alice.id].copy[event]["role"] == "editor"
    assert feeds[bob.id].copy[event]["role"] == "owner"


async def test_changes_during_a_paged_listing_are_not_lost(client: httpx.AsyncClient) -> None:
    """Whatever changes between the pages of a first listing is caught up afterwards."""
    alice, bob = await register(client), await register(client)
    ids = [(await create_event(client, alice, title=f"e{i}"))["id"] for i in range(4)]
    syncing = SyncingClient(client, alice.headers, limit=1)
    assert await syncing.page() is True  # ids[0] listed
    await edit(client, alice.headers, ids[0], "changed after it was listed")
    await client.delete(f"/api/v1/events/{ids[3]}", headers=alice.headers)
    shared = (await create_event(client, bob, title="shared meanwhile"))["id"]
    await share(client, bob, shared, alice, "editor")
    await syncing.catch_up()
    assert syncing.copy == await everything_visible(client, alice.headers)
    assert syncing.copy[ids[0]]["title"] == "changed after it was listed"


async def test_bad_limits_and_cursors_are_contract_errors(client: httpx.AsyncClient) -> None:
    """limit outside 1-1000 is 422; a forged, truncated, altered or another user's
    cursor is 410 cursor_expired."""
    alice, bob = await register(client), await register(client)
    await create_event(client, alice)
    for limit in ("0", "1001", "-1", "many"):
        response = await client.get("/api/v1/sync", params={"limit": limit}, headers=alice.headers)
        assert response.status_code == 422, limit
        assert "limit" in response.json()["error"]["details"]["fields"]
    response = await client.get("/api/v1/sync", params={"limit": 1000}, headers=alice.headers)
    cursor = response.json()["next_cursor"]
    payload, _, signature = cursor.partition(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (cursor[:-3], cursor[:10], f"{flipped}.{signature}", "garbage", "a.b.c", "%00"):
        answer = await client.get("/api/v1/sync", params={"cursor": bad}, headers=alice.headers)
        assert answer.status_code == 410, bad
        assert answer.json()["error"]["code"] == "cursor_expired"
    stolen = await client.get("/api/v1/sync", params={"cursor": cursor}, headers=bob.headers)
    assert stolen.status_code == 410
    assert stolen.json()["error"]["code"] == "cursor_expired"


async def test_an_unchanged_feed_answers_304(client: httpx.AsyncClient) -> None:
    """A sync page that has not changed has the same weak ETag and answers 304."""
    alice = await register(client)
    event = (await create_event(client, alice))["id"]
    first = await client.get("/api/v1/sync", headers=alice.headers)
    cursor = first.json()["next_cursor"]
    quiet = await client.get("/api/v1/sync", params={"cursor": cursor}, headers=alice.headers)
    assert quiet.json() == {"items": [], "next_cursor": cursor, "has_more": False}
    etag = quiet.headers["etag"]
    assert etag.startswith('W/"')
    held = {**alice.headers, "If-None-Match": etag}
    again = await client.get("/api/v1/sync", params={"cursor": cursor}, headers=held)
    assert again.status_code == 304 and again.content == b""
    await edit(client, alice.headers, event, "news")
    changed = await client.get("/api/v1/sync", params={"cursor": cursor}, headers=held)
    assert changed.status_code == 200 and changed.json()["items"][0]["event"]["title"] == "news"


@pytest.fixture
async def short_retention(database_url: str) -> AsyncIterator[RunningServer]:
    running = await start_server(server_settings(database_url=database_url, sync_retention=2))
    try:
        yield running
    finally:
        await running.stop()


async def test_an_edit_reaches_every_members_sync_with_no_row_per_member(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """An event shared with twelve people, edited twice: each one's sync shows it once,
    among a change of their own, in pages of two; the edits add nothing to the per-user
    log (an edit's position is the event's own, migration 0008)."""
    owner = await register(client)
    members = [await register(client) for _ in range(12)]
    event_id = (await create_event(client, owner, title="all hands"))["id"]
    for member in members:
        await share(client, owner, event_id, member, "viewer")
    copies = [SyncingClient(client, member.headers, limit=2) for member in members]
    for copy in copies:
        await copy.catch_up()
    logged = await _logged_changes(database_url)
    await edit(client, owner.headers, event_id, "all hands, moved")
    own = {
        member.id: (await create_event(client, member, title="mine"))["id"] for member in members
    }
    await edit(client, owner.headers, event_id, "all hands, moved again")
    assert await _logged_changes(database_url) == logged
    for member, copy in zip(members, copies, strict=True):
        await copy.catch_up()
        assert copy.copy[event_id]["title"] == "all hands, moved again"
        assert copy.copy[event_id]["version"] == 3
        assert own[member.id] in copy.copy


async def test_a_cursor_past_the_retention_expires_and_old_changes_are_pruned(
    short_retention: RunningServer, database_url: str
) -> None:
    """Past SYNC_RETENTION a cursor is 410 cursor_expired, and the log forgets its changes
    (a share is logged for the user it concerns)."""
    async with httpx.AsyncClient(base_url=short_retention.url) as client:
        alice, bob = await register(client), await register(client)
        shared = await create_event(client, alice)
        await share(client, alice, shared["id"], bob, "viewer")
        assert await _logged_changes(database_url) > 0
        response = await client.get("/api/v1/sync", headers=alice.headers)
        cursor = response.json()["next_cursor"]

        async def expired() -> bool:
            answer = await client.get(
                "/api/v1/sync", params={"cursor": cursor}, headers=alice.headers
            )
            return answer.status_code == 410

        await eventually(expired, timeout=15, interval=0.5)
        fresh = await client.get("/api/v1/sync", headers=alice.headers)
        assert fresh.status_code == 200 and len(fresh.json()["items"]) == 1

        async def logged() -> int:
            await client.get("/api/v1/sync", headers=alice.headers)
            return await _logged_changes(database_url)

        await eventually(lambda: _is_zero(logged()), timeout=15, interval=0.5)


async def test_a_client_polling_an_idle_calendar_keeps_a_live_cursor(
    short_retention: RunningServer,
) -> None:
    """A caught-up client polling an idle calendar is handed a renewed cursor within
    SYNC_RETENTION: it still reads after the cursor it started with has expired."""
    async with httpx.AsyncClient(base_url=short_retention.url) as client:
        alice = await register(client)
        await create_event(client, alice)
        copy = SyncingClient(client, alice.headers)
        await copy.catch_up()
        started = copy.cursor

        async def first_cursor_expired() -> bool:
            assert not await copy.page(), "nothing changed"
            answer = await client.get(
                "/api/v1/sync", params={"cursor": started}, headers=alice.headers
            )
            return answer.status_code == 410

        await eventually(first_cursor_expired, timeout=15, interval=0.2)
        assert copy.cursor != started
        assert not await copy.page()


async def _logged_changes(database_url: str) -> int:
    database = Database(database_url)
    try:
        async with database.read() as conn:
            count = sa.text("SELECT count(*) FROM sync_changes")
            return int((await conn.execute(count)).scalar_one())
    finally:
        await database.close()


async def _is_zero(count: asyncio.Future[int] | object) -> bool:
    return await count == 0  # type: ignore[misc]
