"""The audit trail (PROTOCOL.md v1.1, "Audit trail"): records, chains and who may read them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from tests.support import RunningServer, create_event, register, set_role, share, title_ops
from tests.ws_client import connect

pytestmark = pytest.mark.timeout(120)

PATCH = {"Content-Type": "application/json-patch+json"}


def canonical(record: dict[str, Any]) -> str:
    """The hashed form the README documents, rebuilt from an answered record."""
    fields = {
        "action": record["action"],
        "actor_id": record["actor"]["id"] if record["actor"] else None,
        "at": record["at"],
        "event_id": record["event_id"],
        "ip": record["ip"],
        "request_id": record["request_id"],
        "target_user_id": record["target_user_id"],
        "version": record["version"],
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def assert_chained(records: list[dict[str, Any]], previous: str = "") -> None:
    for record in records:
        expected = hashlib.sha256((previous + canonical(record)).encode()).hexdigest()
        assert record["hash"] == expected, record
        previous = record["hash"]


async def trail(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[Any]:
    records: list[Any] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        records += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return records


async def test_every_event_action_is_one_chained_record(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    """Each change of an event, from every origin, appends one record to its hash chain."""
    alice, bob, carol = await register(client), await register(client), await register(client)
    event = (await create_event(client, alice))["id"]
    url = f"/api/v1/events/{event}"
    traced = {**alice.headers, "X-Request-ID": "trace-42"}
    await client.put(url, json={"title": "put"}, headers=traced)
    await client.patch(url, json=title_ops("patched"), headers={**alice.headers, **PATCH})
    ws = await connect(server.ws_url, alice.access_token)
    try:
        await ws.join(event)
        ack = await ws.submit(event, title_ops("live"))
        assert ack["type"] == "ack"
    finally:
        await ws.close()
    await client.post(f"{url}/rollback/1", headers=alice.headers)
    await share(client, alice, event, bob, "viewer")
    await set_role(client, alice, event, bob, "editor")
    await share(client, alice, event, carol, "viewer")
    await client.delete(f"{url}/permissions/{carol.id}", headers=alice.headers)
    await set_role(client, alice, event, bob, "owner")
    records = await trail(client, f"{url}/audit", bob.headers)
    assert [(r["action"], r["version"], r["target_user_id"]) for r in records] == [
        ("event_create", 1, None),
        ("event_update", 2, None),
        ("event_update", 3, None),
        ("event_update", 4, None),
        ("event_update", 5, None),
        ("share", None, bob.id),
        ("role_change", None, bob.id),
        ("share", None, carol.id),
        ("revoke", None, carol.id),
        ("ownership_transfer", None, bob.id),
    ]
    assert all(r["actor"] == {"id": alice.id, "username": alice.username} for r in records)
    assert all(r["event_id"] == event and r["ip"] == "127.0.0.1" for r in records)
    assert records[1]["request_id"] == "trace-42"
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    assert_chained(records)


async def test_only_the_owner_reads_an_event_trail_even_after_deletion(
    client: httpx.AsyncClient,
) -> None:
    """Owner 200, another member 403, a stranger 404; after deletion the last owner only."""
    alice, bob, mallory = await register(client), await register(client), await register(client)
    event = (await create_event(client, alice))["id"]
    await share(client, alice, event, bob, "editor")
    path = f"/api/v1/events/{event}/audit"
    assert (await client.get(path, headers=alice.headers)).status_code == 200
    refused = await client.get(path, headers=bob.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    hidden = await client.get(path, headers=mallory.headers)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    missing = await client.get("/api/v1/events/999999/audit", headers=alice.headers)
    assert missing.status_code == 404

    await set_role(client, alice, event, bob, "owner")
    assert (await client.get(path, headers=alice.headers)).status_code == 403
    await client.delete(f"/api/v1/events/{event}", headers=bob.headers)
    after = await client.get(path, headers=bob.headers)
    assert after.status_code == 200
    assert [r["action"] for r in after.json()["items"]][-1] == "event_delete"
    assert_chained(after.json()["items"])
    for other in (alice, mallory):
        gone = await client.get(path, headers=other.headers)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


async def test_my_audit_holds_my_account_and_my_actions_only(client: httpx.AsyncClient) -> None:
    """GET /audit: the caller's account chain (logins, failures, logouts) and own actions;
    a cursor it never gave out is 422."""
    alice, bob = await register(client), await register(client)
    wrong = {"username": alice.username, "password": "not the password"}
    assert (await client.post("/api/v1/auth/login", json=wrong)).status_code == 401
    nobody = {"username": "nobody-at-all", "password": "not the password"}
    assert (await client.post("/api/v1/auth/login", json=nobody)).status_code == 401
    login = await client.post(
        "/api/v1/auth/login", json={"username": alice.username, "password": alice.password}
    )
    tokens = login.json()
    renewed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert renewed.status_code == 200
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert reused.json()["error"]["code"] == "token_revoked"
    event = (await create_event(client, bob))["id"]
    await share(client, bob, event, alice, "editor")
    await client.patch(
        f"/api/v1/events/{event}", json=title_ops("by alice"), headers={**alice.headers, **PATCH}
    )
    assert (await client.post("/api/v1/auth/logout", headers=alice.headers)).status_code == 204

    again = await client.post(
        "/api/v1/auth/login", json={"username": alice.username, "password": alice.password}
    )
    headers = {"Authorization": f"Bearer {again.json()['access_token']}"}
    records = await trail(client, "/api/v1/audit", headers)
    assert [r["action"] for r in records] == [
        "register",
        "login_failed",
        "login",
        "refresh_reuse",
        "event_update",
        "logout",
        "login",
    ]
    assert all(r["actor"]["id"] == alice.id for r in records)
    account = [r for r in records if r["event_id"] is None]
    assert_chained(account)
    bobs = await trail(client, "/api/v1/audit", bob.headers)
    assert [r["action"] for r in bobs] == ["register", "event_create", "share"]
    for cursor in ("x", "-1", "9" * 19, "1" * 20):
        bad = await client.get("/api/v1/audit", params={"cursor": cursor}, headers=bob.headers)
        assert bad.status_code == 422
        assert "cursor" in bad.json()["error"]["details"]["fields"]
