"""Rooms over the WebSocket (PROTOCOL.md, WebSocket: join, leave, since, ping)."""

from __future__ import annotations

import httpx
import pytest

from tests.shared_event import SharedEvents
from tests.support import RunningServer, create_event, create_events, register, title_ops
from tests.ws_client import Sockets, is_type

pytestmark = pytest.mark.timeout(120)


async def test_join_answers_role_version_event_and_members(shared_event: SharedEvents) -> None:
    """`joined` carries event_id, role, version, the event and members including the joiner."""
    room = await shared_event("editor", title="Standup")
    alice, bob = room.people
    a, b = await room.sockets(alice, bob, join=False)
    joined = await a.join(room.id)
    assert (joined["event_id"], joined["role"], joined["version"]) == (room.id, "owner", 1)
    assert joined["event"]["title"] == "Standup"
    assert joined["event"].get("version", 1) == 1
    me = [m for m in joined["members"] if m["session"] == a.ready["session"]]
    assert len(me) == 1, joined["members"]
    assert set(me[0]) >= {"session", "user_id", "username", "state"}
    assert (me[0]["user_id"], me[0]["username"]) == (alice.id, alice.username)
    joined_b = await b.join(room.id)
    assert joined_b["role"] == "editor"
    sessions = {m["session"] for m in joined_b["members"]}
    assert sessions == {a.ready["session"], b.ready["session"]}


async def test_join_without_access_is_not_found_and_socket_stays(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """Joining an event one cannot see, or that does not exist, is not_found; the socket goes on."""
    alice, mallory = await register(client), await register(client)
    event = await create_event(client, alice)
    m = await sockets.ready(server.ws_url, mallory.access_token)
    for event_id in (event["id"], 999_999):
        reply = await m.join_reply(event_id)
        assert (reply["type"], reply["code"]) == ("error", "not_found"), reply
        assert reply["event_id"] == event_id
        assert isinstance(reply.get("message"), str)
    await m.ping()


async def test_leave_answers_left(shared_event: SharedEvents) -> None:
    """`leave` is answered `left`, after which the room's patches no longer arrive."""
    room = await shared_event()
    event = room.event
    a, b = await room.sockets(room.owner, room.owner)
    assert (await b.leave(event["id"])) == {"type": "left", "event_id": event["id"]}
    assert (await a.submit(event["id"], title_ops("one")))["type"] == "ack"
    assert (await b.join(event["id"]))["version"] == 2
    assert (await a.submit(event["id"], title_ops("two")))["type"] == "ack"
    await b.recv_until(is_type("patch", event["id"]))
    assert b.versions(event["id"]) == [3]  # version 2 was not delivered after the leave


async def test_a_leave_takes_effect_before_the_next_message(shared_event: SharedEvents) -> None:
    """Right after a leave, presence for that room is invalid_message, a second leave `left`."""
    room = await shared_event()
    a = await room.socket(room.owner)
    await a.send({"type": "leave", "event_id": room.id})
    await a.send({"type": "presence", "event_id": room.id, "state": {"focus": "title"}})
    await a.send({"type": "leave", "event_id": room.id})
    before_pong = await a.ping()
    assert [(m["type"], m.get("code")) for m in before_pong] == [
        ("left", None),
        ("error", "invalid_message"),
        ("left", None),
    ], before_pong
    assert all(m["event_id"] == room.id for m in before_pong)


async def test_join_with_since_answers_exactly_the_missed_patches(
    shared_event: SharedEvents,
) -> None:
    """`join` with since answers `patches` holding exactly the versions after since."""
    room = await shared_event()
    alice, event = room.owner, room.event
    a = await room.socket(alice)
    for n in range(4):
        await a.submit(event["id"], title_ops(f"t{n}"))
    b = await room.socket(alice, join=False)
    joined = await b.join(event["id"], since=2)
    assert joined["version"] == 5
    assert "patches" in joined, joined
    assert [p["version"] for p in joined["patches"]] == [3, 4, 5]
    for patch in joined["patches"]:
        assert set(patch) >= {"version", "ops", "author_id", "op_id", "at", "origin"}
    assert joined["patches"][-1]["ops"] == title_ops("t3")
    up_to_date = await room.socket(alice, join=False)
    assert (await up_to_date.join(event["id"], since=5)).get("patches", []) == []


async def test_reconnect_and_rejoin_with_since_gets_exactly_what_was_missed(
    shared_event: SharedEvents,
) -> None:
    """A client that drops and rejoins with since sees every version exactly once overall."""
    room = await shared_event()
    alice, event = room.owner, room.event
    writer, reader = await room.sockets(alice, alice)
    for n in range(3):
        await writer.submit(event["id"], title_ops(f"before {n}"))
    await reader.recv_until(lambda m: m.get("type") == "patch" and m["version"] == 4)
    seen = reader.versions(event["id"])
    await reader.close()
    for n in range(3):
        await writer.submit(event["id"], title_ops(f"while away {n}"))
    again = await room.socket(alice, join=False)
    joined = await again.join(event["id"], since=seen[-1])
    missed = [p["version"] for p in joined.get("patches", [])]
    await writer.submit(event["id"], title_ops("after"))
    await again.recv_until(lambda m: m.get("type") == "patch" and m["version"] == 8)
    assert seen + missed + again.versions(event["id"]) == list(range(2, 9))


async def test_501st_join_is_too_large_and_a_leave_frees_a_place(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """A socket joins at most 500 rooms; the 501st join is too_large until one is left."""
    alice = await register(client)
    ids = await create_events(client, alice, 501)
    a = await sockets.ready(server.ws_url, alice.access_token)
    for event_id in ids[:500]:
        await a.join(event_id)
    refused = await a.join_reply(ids[500])
    assert (refused["type"], refused["code"], refused["event_id"]) == (
        "error",
        "too_large",
        ids[500],
    )
    # Sent back to back: the leave takes effect before the join is counted.
    await a.send({"type": "leave", "event_id": ids[0]})
    await a.send({"type": "join", "event_id": ids[500]})
    left = await a.recv_until(lambda m: m.get("event_id") == ids[0])
    assert left == {"type": "left", "event_id": ids[0]}
    joined = await a.recv_until(lambda m: m.get("event_id") == ids[500])
    assert joined["type"] == "joined", joined
    assert a.log.index(left) < a.log.index(joined)
    again = await a.join_reply(ids[0])
    assert (again["type"], again["code"]) == ("error", "too_large"), again


async def test_ping_answers_pong(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """`ping` is answered `pong`."""
    alice = await register(client)
    a = await sockets.ready(server.ws_url, alice.access_token)
    await a.send({"type": "ping"})
    assert await a.recv() == {"type": "pong"}
