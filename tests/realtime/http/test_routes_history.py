"""History (PROTOCOL.md, History): versions, snapshots, diff, changelog and rollback."""

from __future__ import annotations

import httpx
import pytest

from tests.support import create_event, error_code, register, share

pytestmark = pytest.mark.timeout(120)


async def test_every_change_is_a_version_row(client: httpx.AsyncClient) -> None:
    """create, PUT, PATCH and rollback each add one version with author, origin and ops."""
    alice, bob = await register(client), await register(client)
    event = await create_event(client, alice, title="One")
    base = f"/api/v1/events/{event['id']}"
    await share(client, alice, event["id"], bob, "editor")
    await client.put(base, json={"title": "Two"}, headers=alice.headers)
    await client.patch(
        base,
        json=[{"op": "add", "path": "/metadata/color", "value": "red"}],
        headers={**bob.headers, "Content-Type": "application/json-patch+json"},
    )
    rolled = await client.post(f"{base}/rollback/1", headers=bob.headers)
    assert rolled.status_code == 200
    assert (rolled.json()["title"], rolled.json()["metadata"], rolled.json()["version"]) == (
        "One",
        {},
        4,
    )
    items = (await client.get(f"{base}/history", headers=alice.headers)).json()["items"]
    assert [(v["version"], v["origin"], v["author"]["username"]) for v in items] == [
        (4, "rollback", bob.username),
        (3, "rest", bob.username),
        (2, "rest", alice.username),
        (1, "create", alice.username),
    ]
    assert items[1]["ops"] == [{"op": "add", "path": "/metadata/color", "value": "red"}]
    assert set(items[0]) == {"version", "author", "at", "origin", "op_id", "ops"}
    one = (await client.get(f"{base}/history/3", headers=alice.headers)).json()
    assert (
        one["version"] == 3
        and one["event"]["metadata"] == {"color": "red"}
        and one["event"]["title"] == "Two"
    )
    assert (await client.get(f"{base}/history/9", headers=alice.headers)).status_code == 404


async def test_history_pages(client: httpx.AsyncClient) -> None:
    """A long history pages newest first without gaps or repeats."""
    alice = await register(client)
    event = await create_event(client, alice)
    base = f"/api/v1/events/{event['id']}"
    for i in range(11):
        await client.put(base, json={"title": f"t{i}"}, headers=alice.headers)
    seen, cursor = [], None
    while True:
        params = {"limit": "5", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(f"{base}/history", params=params, headers=alice.headers)).json()
        seen += [v["version"] for v in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(12, 0, -1))
    for listing in ("history", "changelog"):
        for forged in ("abc", "99999999999999999999999"):
            response = await client.get(
                f"{base}/{listing}", params={"cursor": forged}, headers=alice.headers
            )
            assert response.status_code == 422, (listing, forged, response.text)
            assert response.json()["error"]["details"]["fields"]["cursor"]


async def test_diff_between_versions(client: httpx.AsyncClient) -> None:
    """diff lists field changes (metadata per leaf) and a patch that turns v1 into v2."""
    alice = await register(client)
    event = await create_event(client, alice, title="Old", metadata={"a": {"b": 1}, "gone": True})
    base = f"/api/v1/events/{event['id']}"
    await client.put(
        base,
        json={"title": "New", "metadata": {"a": {"b": 2}, "color/x": "red"}},
        headers=alice.headers,
    )
    body = (await client.get(f"{base}/diff/1/2", headers=alice.headers)).json()
    assert (body["event_id"], body["from_version"], body["to_version"]) == (event["id"], 1, 2)
    changes = {c["path"]: c for c in body["changes"]}
    assert changes["/title"] == {
        "field": "title",
        "path": "/title",
        "old_value": "Old",
        "new_value": "New",
        "change_type": "modified",
    }
    assert changes["/metadata/a/b"]["change_type"] == "modified"
    assert changes["/metadata/gone"] == {
        "field": "metadata",
        "path": "/metadata/gone",
        "old_value": True,
        "new_value": None,
        "change_type": "removed",
    }
    assert changes["/metadata/color~1x"]["change_type"] == "added"
    v1 = (await client.get(f"{base}/history/1", headers=alice.headers)).json()["event"]
    v2 = (await client.get(f"{base}/history/2", headers=alice.headers)).json()["event"]
    import jsonpatch

    assert jsonpatch.apply_patch(v1, body["patch"]) == v2
    missing = await client.get(f"{base}/diff/1/7", headers=alice.headers)
    assert missing.status_code == 404


async def test_changelog_sentences(client: httpx.AsyncClient) -> None:
    """The changelog has one human sentence per version, oldest first or newest first."""
    alice = await register(client, "alicelog")
    event = await create_event(client, alice, title="Standup")
    base = f"/api/v1/events/{event['id']}"
    await client.put(base, json={"title": "Daily standup"}, headers=alice.headers)
    await client.put(
        base,
        json={"start_time": "2026-03-03T09:00:00Z", "end_time": "2026-03-03T09:15:00Z"},
        headers=alice.headers,
    )
    items = (await client.get(f"{base}/changelog", headers=alice.headers)).json()["items"]
    assert [i["version"] for i in items] == [1, 2, 3]
    assert all(i["summary"].startswith("alicelog ") for i in items)
    assert "Standup" in items[0]["summary"]
    assert "Daily standup" in items[1]["summary"]
    assert "3 March 2026" in items[2]["summary"] and "10:00" in items[2]["summary"]
    assert items[1]["changes"][0]["path"] == "/title"
    newest = (
        await client.get(
            f"{base}/changelog", params={"order": "desc", "limit": "2"}, headers=alice.headers
        )
    ).json()
    assert [i["version"] for i in newest["items"]] == [3, 2] and newest["next_cursor"]
    rest = (
        await client.get(
            f"{base}/changelog",
            params={"order": "desc", "cursor": newest["next_cursor"]},
            headers=alice.headers,
        )
    ).json()
    assert [i["version"] for i in rest["items"]] == [1]


async def test_history_needs_access_and_rollback_needs_editor(client: httpx.AsyncClient) -> None:
    """Strangers get 404 on every history route; a viewer cannot roll back (403)."""
    alice, bob, mallory = await register(client), await register(client), await register(client)
    event = await create_event(client, alice)
    base = f"/api/v1/events/{event['id']}"
    await share(client, alice, event["id"], bob, "viewer")
    for path in ("history", "history/1", "diff/1/1", "changelog"):
        assert (await client.get(f"{base}/{path}", headers=mallory.headers)).status_code == 404
        assert (await client.get(f"{base}/{path}", headers=bob.headers)).status_code == 200
    assert (await client.post(f"{base}/rollback/1", headers=mallory.headers)).status_code == 404
    refused = await client.post(f"{base}/rollback/1", headers=bob.headers)
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")
    missing = await client.post(f"{base}/rollback/5", headers=alice.headers)
    assert missing.status_code == 404
