"""A deleted event's id is never given to a new event: its audit trail and its sync
tombstones outlive it, and must not become another event's (migration 0005)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from storage.database import Database
from storage.migrate import downgrade, migrate
from tests.processes import base_env, tandem
from tests.support import (
    Account,
    create_event,
    login,
    register,
    server_settings,
    share,
    start_server,
)

pytestmark = pytest.mark.timeout(120)


async def _delete(client: httpx.AsyncClient, owner: Account, event_id: int) -> None:
    response = await client.delete(f"/api/v1/events/{event_id}", headers=owner.headers)
    assert response.status_code == 204, response.text


async def _audit_actions(client: httpx.AsyncClient, owner: Account, event_id: int) -> list[str]:
    response = await client.get(f"/api/v1/events/{event_id}/audit", headers=owner.headers)
    assert response.status_code == 200, response.text
    return [record["action"] for record in response.json()["items"]]


def _verify(database_url: str, tmp_path: Path) -> None:
    verified = tandem(
        "audit",
        "verify",
        env=base_env(DATABASE_URL=database_url, SECRET_KEY="k" * 40),
        cwd=tmp_path,
    )
    assert verified.returncode == 0, verified.stderr


async def test_a_deleted_newest_event_keeps_its_id(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    """Deleting the newest event and creating another: a new id, a new audit trail, and
    the deleted event's trail still its own (readable by the owner who deleted it)."""
    alice, bob = await register(client), await register(client)
    gone = (await create_event(client, alice, title="gone"))["id"]
    await _delete(client, alice, gone)
    newer = (await create_event(client, bob, title="newer"))["id"]
    assert newer > gone
    assert await _audit_actions(client, bob, newer) == ["event_create"]
    assert await _audit_actions(client, alice, gone) == ["event_create", "event_delete"]
    refused = await client.get(f"/api/v1/events/{gone}/audit", headers=bob.headers)
    assert refused.status_code == 404
    _verify(database_url, tmp_path)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_upgrade_keeps_rows_and_skips_remembered_ids(
    database_url: str, tmp_path: Path
) -> None:
    """A SQLite database written under 0004, whose newest event was deleted: after 0005 every
    event keeps its versions and shares (no cascade from the table rebuild), and the next
    event's id is above the deleted one's."""
    server = await start_server(server_settings(database_url=database_url))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            alice, bob = await register(http), await register(http)
            kept = (await create_event(http, alice, title="kept"))["id"]
            await share(http, alice, kept, bob, "viewer")
            gone = (await create_event(http, alice, title="gone"))["id"]
            await _delete(http, alice, gone)
    finally:
        await server.stop()

    database = Database(database_url)
    try:
        await downgrade(database, "0004")
        await migrate(database)
    finally:
        await database.close()

    server = await start_server(server_settings(database_url=database_url))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            bob = await login(http, bob)
            seen = await http.get(f"/api/v1/events/{kept}", headers=bob.headers)
            assert seen.status_code == 200 and seen.json()["title"] == "kept"
            alice = await login(http, alice)
            history = await http.get(f"/api/v1/events/{kept}/history", headers=alice.headers)
            assert history.status_code == 200 and len(history.json()["items"]) == 1
            newer = (await create_event(http, alice, title="newer"))["id"]
            assert newer > gone
    finally:
        await server.stop()
    _verify(database_url, tmp_path)
