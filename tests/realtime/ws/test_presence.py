"""Presence in rooms (PROTOCOL.md, WebSocket: presence, members, joined/left/updated deltas)."""

from __future__ import annotations

import pytest

from tests.shared_event import SharedEvents
from tests.ws_client import MSGPACK, Message, WSClient, is_error

pytestmark = pytest.mark.timeout(120)

MEMBER_KEYS = {"session", "user_id", "username", "state"}


def session(ws: WSClient) -> str:
    assert ws.ready is not None
    return ws.ready["session"]


async def delta(ws: WSClient, event_id: int, part: str, of: WSClient) -> Message:
    """The member `of` as it appears in the `part` list of a presence delta to `ws`."""

    def match(message: Message) -> bool:
        return (
            message.get("type") == "presence"
            and message.get("event_id") == event_id
            and any(m.get("session") == session(of) for m in message.get(part) or [])
        )

    message = await ws.recv_until(match, timeout=10)
    (member,) = [m for m in message[part] if m["session"] == session(of)]
    assert set(member) >= MEMBER_KEYS, member
    return member


async def state_of(ws: WSClient, event_id: int, of: WSClient, state: object) -> Message:
    """Wait until a delta to `ws` shows `of` with `state`.

    Presence is coalesced per tick, so a join and a state set in the same tick may
    arrive as one `joined` entry already carrying the state.
    """

    def match(message: Message) -> bool:
        return (
            message.get("type") == "presence"
            and message.get("event_id") == event_id
            and any(
                m.get("session") == session(of) and m.get("state") == state
                for part in ("joined", "updated")
                for m in message.get(part) or []
            )
        )

    message = await ws.recv_until(match, timeout=10)
    (member,) = [
        m
        for part in ("joined", "updated")
        for m in message.get(part) or []
        if m["session"] == session(of) and m["state"] == state
    ]
    assert set(member) >= MEMBER_KEYS, member
    return member


def presence_about(ws: WSClient, about: WSClient) -> list[Message]:
    return [
        m
        for m in ws.log
        if m.get("type") == "presence"
        and any(
            x.get("session") == session(about)
            for part in ("joined", "left", "updated")
            for x in m.get(part) or []
        )
    ]


async def test_state_update_reaches_the_other_members(shared_event: SharedEvents) -> None:
    """A presence state is sent as `updated` [member] to the others and kept for later joiners."""
    room = await shared_event("editor")
    (alice, bob), event_id = room.people, room.id
    a, b = await room.sockets(alice, bob)
    await a.send({"type": "presence", "event_id": event_id, "state": {"focus": "title"}})
    member = await state_of(b, event_id, a, {"focus": "title"})
    assert member == {
        "session": session(a),
        "user_id": alice.id,
        "username": alice.username,
        "state": {"focus": "title"},
    }
    late = await room.socket(bob, join=False)
    joined = await late.join(event_id)
    (listed,) = [m for m in joined["members"] if m["session"] == session(a)]
    assert listed["state"] == {"focus": "title"}
    await a.ping()
    updates_to_self = [
        m
        for m in presence_about(a, a)
        if any(x.get("session") == session(a) for x in m.get("updated") or [])
    ]
    assert updates_to_self == [], "the sender got its own presence update"


async def test_viewer_presence_is_shared(shared_event: SharedEvents) -> None:
    """Presence is not an edit: a viewer's state reaches the room too."""
    room = await shared_event("viewer")
    (alice, vera), event = room.people, room.event
    a, v = await room.sockets(alice, vera)
    await v.send({"type": "presence", "event_id": event["id"], "state": {"focus": "location"}})
    await state_of(a, event["id"], v, {"focus": "location"})


async def test_join_leave_and_disconnect_are_deltas_to_the_others(
    shared_event: SharedEvents,
) -> None:
    """Joining and leaving (by `leave` or by closing the socket) reach the other members."""
    room = await shared_event("viewer")
    (alice, bob), event_id = room.people, room.id
    a, b = await room.sockets(alice, bob)
    joined = await delta(a, event_id, "joined", of=b)
    assert (joined["user_id"], joined["username"]) == (bob.id, bob.username)
    assert (await b.leave(event_id))["type"] == "left"
    left = await delta(a, event_id, "left", of=b)
    assert left["user_id"] == bob.id
    c = await room.socket(bob)
    await delta(a, event_id, "joined", of=c)
    await c.close()
    await delta(a, event_id, "left", of=c)
    # The joiner learns about the room from `members`, not from a delta about itself.
    assert presence_about(b, b) == []


async def test_state_over_1_kib_is_too_large(shared_event: SharedEvents) -> None:
    """Presence state over 1 KiB is error too_large; nothing is sent; the socket goes on."""
    room = await shared_event()
    alice, event = room.owner, room.event
    a, b = await room.sockets(alice, alice)
    await a.send({"type": "presence", "event_id": event["id"], "state": {"blob": "x" * 2000}})
    error = await a.recv_until(is_error("too_large"))
    assert error["event_id"] == event["id"]
    await a.send({"type": "presence", "event_id": event["id"], "state": {"blob": "y" * 500}})
    await state_of(b, event["id"], a, {"blob": "y" * 500})
    assert not [m for m in b.log if "x" * 2000 in str(m.get("updated"))], (
        "refused state was broadcast"
    )


async def test_state_that_is_not_json_is_invalid_message(shared_event: SharedEvents) -> None:
    """A MessagePack state JSON cannot carry (bytes, int keys, NaN) is refused, not relayed."""
    room = await shared_event()
    event_id = room.id
    plain = await room.socket(room.owner)
    packed = await room.pool.ready(room.ws_url, room.owner.access_token, subprotocol=MSGPACK)
    await packed.join(event_id)
    for state in ({"b": b"\x00\x01\xff"}, {7: True}, {"n": [float("nan")]}):
        await packed.send({"type": "presence", "event_id": event_id, "state": state})
        error = await packed.recv_until(is_error("invalid_message"))
        assert error["event_id"] == event_id
    await packed.send({"type": "presence", "event_id": event_id, "state": {"focus": "title"}})
    await state_of(plain, event_id, packed, {"focus": "title"})
    refused = [m for m in presence_about(plain, packed) if m.get("updated")]
    assert [m["updated"][0]["state"] for m in refused] == [{"focus": "title"}], refused


async def test_presence_for_a_room_not_joined_is_an_error(shared_event: SharedEvents) -> None:
    """Presence for a room the socket has not joined is refused; the socket goes on."""
    room = await shared_event()
    event = room.event
    a = await room.socket(room.owner, join=False)
    await a.send({"type": "presence", "event_id": event["id"], "state": {"focus": "title"}})
    error = await a.recv_until(lambda m: m.get("type") == "error")
    assert error["event_id"] == event["id"]
    await a.ping()
