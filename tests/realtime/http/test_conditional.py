"""Conditional reads (PROTOCOL.md v1.1, "Conditional reads"): ETags and If-None-Match."""

from __future__ import annotations

import httpx
import pytest

from tests.support import create_event, register, title_ops

pytestmark = pytest.mark.timeout(120)

PATCH = {"Content-Type": "application/json-patch+json"}


async def test_event_answers_304_until_its_version_changes(client: httpx.AsyncClient) -> None:
    """GET /events/{id} answers 304 for its current version (strong or weak), 200 after an
    edit, and 404 (never 304) to a stranger holding the right tag."""
    alice, mallory = await register(client), await register(client)
    event = await create_event(client, alice)
    url = f"/api/v1/events/{event['id']}"
    stranger = await client.get(url, headers={**mallory.headers, "If-None-Match": '"1"'})
    assert stranger.status_code == 404
    first = await client.get(url, headers=alice.headers)
    assert first.headers["etag"] == '"1"'
    for held in ('"1"', 'W/"1"', '"7", "1"', "*"):
        again = await client.get(url, headers={**alice.headers, "If-None-Match": held})
        assert again.status_code == 304, held
        assert again.content == b"" and again.headers["etag"] == '"1"'
    await client.patch(url, json=title_ops("moved"), headers={**alice.headers, **PATCH})
    changed = await client.get(url, headers={**alice.headers, "If-None-Match": '"1"'})
    assert changed.status_code == 200 and changed.json()["title"] == "moved"
    assert changed.headers["etag"] == '"2"'
    # as_of answers the past: never 304, whatever the client holds.
    past = await client.get(
        url,
        params={"as_of": event["created_at"]},
        headers={**alice.headers, "If-None-Match": '"1"'},
    )
    assert past.status_code == 200 and past.json()["version"] == 1


async def test_listing_has_a_weak_etag_that_changes_with_the_page(
    client: httpx.AsyncClient,
) -> None:
    """GET /events carries a weak ETag; the same page answers 304, a changed one 200."""
    alice = await register(client)
    event = await create_event(client, alice)
    first = await client.get("/api/v1/events", headers=alice.headers)
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    same = await client.get("/api/v1/events", headers={**alice.headers, "If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    await client.patch(
        f"/api/v1/events/{event['id']}", json=title_ops("x"), headers={**alice.headers, **PATCH}
    )
    changed = await client.get("/api/v1/events", headers={**alice.headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/1", "/api/v1/sync"])
async def test_an_if_none_match_that_is_no_etag_is_a_validation_error(
    client: httpx.AsyncClient, path: str
) -> None:
    """An If-None-Match that is not a list of entity tags is 422 validation_error, naming it."""
    alice = await register(client)
    await create_event(client, alice)
    for bad in ("1", '"1', "W/1", '"a"b"', '"1",'):
        response = await client.get(path, headers={**alice.headers, "If-None-Match": bad})
        assert response.status_code == 422, (path, bad)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert "If-None-Match" in error["details"]["fields"]
