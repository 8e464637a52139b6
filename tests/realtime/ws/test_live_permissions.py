"""Role changes on live sockets (PROTOCOL.md, Sharing: "A role change takes effect at once")."""

from __future__ import annotations

import httpx
import pytest

from tests.shared_event import SharedEvents
from tests.support import RunningServer, create_event, register, set_role, share, title_ops
from tests.ws_client import Sockets, is_type

pytestmark = pytest.mark.timeout(120)

EVENTS = "/api/v1/events"


async def test_downgrade_sends_access_and_refuses_the_next_patch(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A downgraded editor gets `access` role viewer, and its next patch is forbidden."""
    room = await shared_event("editor")
    (alice, bob), event_id = room.people, room.id
    b = await room.socket(bob)
    assert (await b.submit(event_id, title_ops("as editor")))["type"] == "ack"
    await set_role(client, alice, event_id, bob, "viewer")
    access = await b.recv_until(is_type("access", event_id))
    assert access["role"] == "viewer"
    refused = await b.submit(event_id, title_ops("as viewer"), op_id="b-late")
    assert (refused["type"], refused["code"], refused["op_id"]) == ("error", "forbidden", "b-late")
    got = (await client.get(f"{EVENTS}/{event_id}", headers=alice.headers)).json()
    assert (got["version"], got["title"]) == (2, "as editor")


async def test_refused_at_once_even_without_reading_access(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """The role is checked when the patch is applied: a patch right after the REST call fails."""
    room = await shared_event("editor")
    (alice, bob), event = room.people, room.event
    b = await room.socket(bob)
    await set_role(client, alice, event["id"], bob, "viewer")
    refused = await b.submit(event["id"], title_ops("too late"))
    assert (refused["type"], refused["code"]) == ("error", "forbidden"), refused


async def test_upgrade_sends_access_and_allows_patches(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A viewer promoted to editor gets `access` role editor and may then patch."""
    room = await shared_event("viewer")
    (alice, vera), event = room.people, room.event
    v = await room.socket(vera)
    await set_role(client, alice, event["id"], vera, "editor")
    assert (await v.recv_until(is_type("access", event["id"])))["role"] == "editor"
    assert (await v.submit(event["id"], title_ops("promoted")))["type"] == "ack"


async def test_revoke_sends_removed_and_stops_delivery(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A revoked user gets `removed` reason revoked, leaves the room and gets no more patches."""
    room = await shared_event("editor", "viewer")
    (alice, bob, carol), event_id = room.people, room.id
    a, b, c = await room.sockets(alice, bob, carol)
    response = await client.delete(
        f"{EVENTS}/{event_id}/permissions/{bob.id}", headers=alice.headers
    )
    assert response.status_code == 204
    removed = await b.recv_until(is_type("removed", event_id))
    assert removed["reason"] == "revoked"
    assert (await a.submit(event_id, title_ops("after revoke")))["version"] == 2
    await c.recv_until(is_type("patch", event_id))
    await b.ping()
    assert b.versions(event_id) == []
    assert not [m for m in b.log if m.get("type") == "patch"]
    refused = await b.submit(event_id, title_ops("still here?"))
    # No access at all reads as not_found, as on REST: existence is not leaked.
    assert (refused["type"], refused["code"]) == ("error", "not_found"), refused
    rejoin = await b.join_reply(event_id)
    assert (rejoin["type"], rejoin["code"]) == ("error", "not_found"), rejoin
    # Carol was not touched by Bob's revoke.
    assert not [m for m in c.log if m.get("type") == "removed"]


async def test_leaving_oneself_sends_removed_to_own_sockets(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A user who removes its own permission leaves the room on its sockets."""
    room = await shared_event("editor")
    bob, event = room.members[0], room.event
    b = await room.socket(bob)
    response = await client.delete(
        f"{EVENTS}/{event['id']}/permissions/{bob.id}", headers=bob.headers
    )
    assert response.status_code == 204
    removed = await b.recv_until(is_type("removed", event["id"]))
    assert removed["reason"] == "revoked"


async def test_delete_sends_removed_deleted_to_everyone_joined(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """Deleting an event sends `removed` reason deleted to every joined socket, owner included."""
    room = await shared_event("editor", "viewer")
    (alice, bob, carol), event_id = room.people, room.id
    joined = await room.sockets(alice, bob, carol, alice)
    assert (await client.delete(f"{EVENTS}/{event_id}", headers=alice.headers)).status_code == 204
    for ws in joined:
        removed = await ws.recv_until(is_type("removed", event_id))
        assert removed["reason"] == "deleted"
    refused = await joined[0].submit(event_id, title_ops("gone"), base_version=1)
    # No access at all reads as not_found, as on REST: existence is not leaked.
    assert (refused["type"], refused["code"]) == ("error", "not_found"), refused
    await joined[1].ping()


async def test_sharing_reaches_a_connected_user_that_has_not_joined(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """Sharing an event with a connected user sends `access` on that user's channel."""
    alice, bob = await register(client), await register(client)
    event = await create_event(client, alice)
    b1 = await sockets.ready(server.ws_url, bob.access_token)
    b2 = await sockets.ready(server.ws_url, bob.access_token)
    await share(client, alice, event["id"], bob, "editor")
    for ws in (b1, b2):
        access = await ws.recv_until(is_type("access", event["id"]))
        assert access["role"] == "editor"
    joined = await b1.join(event["id"])
    assert joined["role"] == "editor"


async def test_access_is_not_sent_to_other_users(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """Sharing with one user tells only that user's sockets."""
    alice, bob, mallory = await register(client), await register(client), await register(client)
    event = await create_event(client, alice)
    b = await sockets.ready(server.ws_url, bob.access_token)
    m = await sockets.ready(server.ws_url, mallory.access_token)
    await share(client, alice, event["id"], bob, "viewer")
    await b.recv_until(is_type("access", event["id"]))
    await m.ping()
    assert [msg for msg in m.log if msg.get("type") not in ("ready", "pong")] == []
