"""Sharing (PROTOCOL.md, Sharing): grants, roles, transfer and revocation over REST."""

from __future__ import annotations

import httpx
import pytest

from tests.support import create_event, error_code, register

pytestmark = pytest.mark.timeout(120)


async def test_share_by_id_and_username_lists_owner_first(client: httpx.AsyncClient) -> None:
    """Share answers the full permission list, owner first, with who granted what."""
    alice, bob, carol = await register(client), await register(client), await register(client)
    event = await create_event(client, alice)
    response = await client.post(
        f"/api/v1/events/{event['id']}/share",
        json={
            "users": [
                {"user_id": bob.id, "role": "editor"},
                {"username": carol.username.upper(), "role": "viewer"},
            ]
        },
        headers=alice.headers,
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(p["user_id"], p["role"]) for p in items] == [
        (alice.id, "owner"),
        (bob.id, "editor"),
        (carol.id, "viewer"),
    ]
    assert all(p["granted_by"] == alice.id for p in items)
    assert items[1]["username"] == bob.username and items[1]["granted_at"].endswith("Z")
    listed = await client.get(f"/api/v1/events/{event['id']}/permissions", headers=carol.headers)
    assert listed.json()["items"] == items
    shared = (await client.get(f"/api/v1/events/{event['id']}", headers=carol.headers)).json()
    assert shared["role"] == "viewer"


async def test_only_the_owner_shares(client: httpx.AsyncClient) -> None:
    """An editor gets 403 when sharing; a stranger gets 404; bad bodies get 422 or 404."""
    alice, bob, mallory = await register(client), await register(client), await register(client)
    event = await create_event(client, alice)
    url = f"/api/v1/events/{event['id']}/share"
    await client.post(
        url, json={"users": [{"user_id": bob.id, "role": "editor"}]}, headers=alice.headers
    )
    body = {"users": [{"user_id": mallory.id, "role": "editor"}]}
    as_editor = await client.post(url, json=body, headers=bob.headers)
    assert (as_editor.status_code, error_code(as_editor)) == (403, "forbidden")
    as_stranger = await client.post(url, json=body, headers=mallory.headers)
    assert (as_stranger.status_code, error_code(as_stranger)) == (404, "not_found")
    for bad in (
        {"users": []},
        {"users": [{"user_id": bob.id, "role": "owner"}]},
        {"users": [{"role": "viewer"}]},
    ):
        response = await client.post(url, json=bad, headers=alice.headers)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), bad
    unknown = await client.post(
        url, json={"users": [{"username": "ghost", "role": "viewer"}]}, headers=alice.headers
    )
    assert (unknown.status_code, error_code(unknown)) == (404, "not_found")
    perms = (
        await client.get(f"/api/v1/events/{event['id']}/permissions", headers=alice.headers)
    ).json()
    assert [p["user_id"] for p in perms["items"]] == [alice.id, bob.id]


async def test_role_change_takes_effect_at_once(client: httpx.AsyncClient) -> None:
    """A downgraded editor's next edit is refused."""
    alice, bob = await register(client), await register(client)
    event = await create_event(client, alice)
    base = f"/api/v1/events/{event['id']}"
    await client.post(
        f"{base}/share",
        json={"users": [{"user_id": bob.id, "role": "editor"}]},
        headers=alice.headers,
    )
    assert (await client.put(base, json={"title": "bob 1"}, headers=bob.headers)).status_code == 200
    changed = await client.put(
        f"{base}/permissions/{bob.id}", json={"role": "viewer"}, headers=alice.headers
    )
    assert changed.status_code == 200
    assert [p["role"] for p in changed.json()["items"]] == ["owner", "viewer"]
    assert (await client.put(base, json={"title": "bob 2"}, headers=bob.headers)).status_code == 403
    not_owner = await client.put(
        f"{base}/permissions/{bob.id}", json={"role": "editor"}, headers=bob.headers
    )
    assert not_owner.status_code == 403
    bad = await client.put(
        f"{base}/permissions/{bob.id}", json={"role": "king"}, headers=alice.headers
    )
    assert bad.status_code == 422


async def test_transfer_ownership(client: httpx.AsyncClient) -> None:
    """role owner transfers ownership; the old owner becomes an editor."""
    alice, bob = await register(client), await register(client)
    event = await create_event(client, alice)
    base = f"/api/v1/events/{event['id']}"
    await client.post(
        f"{base}/share",
        json={"users": [{"user_id": bob.id, "role": "viewer"}]},
        headers=alice.headers,
    )
    moved = await client.put(
        f"{base}/permissions/{bob.id}", json={"role": "owner"}, headers=alice.headers
    )
    assert moved.status_code == 200
    assert [(p["user_id"], p["role"]) for p in moved.json()["items"]] == [
        (bob.id, "owner"),
        (alice.id, "editor"),
    ]
    event_now = (await client.get(base, headers=bob.headers)).json()
    assert (event_now["owner_id"], event_now["role"]) == (bob.id, "owner")
    assert (await client.delete(base, headers=alice.headers)).status_code == 403
    assert (
        await client.put(base, json={"title": "still editing"}, headers=alice.headers)
    ).status_code == 200


async def test_revoke_by_owner_or_self(client: httpx.AsyncClient) -> None:
    """The owner removes anyone; a user removes itself; the removed user then gets 404."""
    alice, bob, carol = await register(client), await register(client), await register(client)
    event = await create_event(client, alice)
    base = f"/api/v1/events/{event['id']}"
    await client.post(
        f"{base}/share",
        json={
            "users": [
                {"user_id": bob.id, "role": "editor"},
                {"user_id": carol.id, "role": "viewer"},
            ]
        },
        headers=alice.headers,
    )
    by_other = await client.delete(f"{base}/permissions/{carol.id}", headers=bob.headers)
    assert (by_other.status_code, error_code(by_other)) == (403, "forbidden")
    assert (
        await client.delete(f"{base}/permissions/{carol.id}", headers=carol.headers)
    ).status_code == 204
    assert (await client.get(base, headers=carol.headers)).status_code == 404
    assert (
        await client.delete(f"{base}/permissions/{bob.id}", headers=alice.headers)
    ).status_code == 204
    assert (await client.put(base, json={"title": "x"}, headers=bob.headers)).status_code == 404
    owner = await client.delete(f"{base}/permissions/{alice.id}", headers=alice.headers)
    assert (owner.status_code, error_code(owner)) == (403, "forbidden")
    gone = await client.delete(f"{base}/permissions/{bob.id}", headers=alice.headers)
    assert gone.status_code == 404
