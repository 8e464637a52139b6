"""Patches over the WebSocket (PROTOCOL.md, WebSocket: patch, ack, error): acks and
broadcast, noops and resends, refusals, conflicts and rebase, and REST edits reaching
the room."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.shared_event import SharedEvents
from tests.support import RunningServer, title_ops
from tests.ws_client import WSClient, is_type

pytestmark = pytest.mark.timeout(120)

EVENTS = "/api/v1/events"


async def current(client: httpx.AsyncClient, account, event_id: int) -> dict:
    response = await client.get(f"{EVENTS}/{event_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_patch_acks_the_sender_and_broadcasts_to_the_others(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A patch is acked to its sender and sent as `patch` (origin ws) to the others only."""
    room = await shared_event("editor")
    alice, bob = room.people
    event_id = room.id
    a, b, c = await room.sockets(alice, bob, alice)
    ack = await a.submit(event_id, title_ops("Renamed"), base_version=1, op_id="a-1")
    assert (ack["type"], ack["event_id"], ack["op_id"], ack["version"]) == (
        "ack",
        event_id,
        "a-1",
        2,
    )
    assert not ack.get("noop"), ack
    for other in (b, c):
        patch = await other.recv_until(is_type("patch", event_id))
        assert patch["version"] == 2
        assert patch["ops"] == title_ops("Renamed")
        assert (patch["author_id"], patch["op_id"], patch["origin"]) == (alice.id, "a-1", "ws")
        assert isinstance(patch["at"], str) and patch["at"].endswith("Z")
    assert (await b.submit(event_id, title_ops("Again"), base_version=2))["version"] == 3
    await a.recv_until(is_type("patch", event_id))
    # The sender's stream is the ack of 2 then bob's patch 3: no echo of its own op.
    assert [(d.version, d.kind) for d in a.deliveries[event_id]] == [(2, "ack"), (3, "patch")]
    assert (await current(client, alice, event_id))["title"] == "Again"


async def test_ack_comes_after_commit(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """Right after an ack, a REST GET already shows that version."""
    room = await shared_event()
    alice, event = room.owner, room.event
    a = await room.socket(alice)
    for n in range(5):
        ack = await a.submit(event["id"], title_ops(f"commit {n}"))
        got = await current(client, alice, event["id"])
        assert got["version"] >= ack["version"] == n + 2
        assert got["title"] == f"commit {n}"


async def test_noop_patch_acks_current_version_and_broadcasts_nothing(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A patch that changes nothing is acked with noop true and the current version, not sent."""
    room = await shared_event(title="Same")
    alice, event = room.owner, room.event
    a, b = await room.sockets(alice, alice)
    for ops in (
        [{"op": "test", "path": "/title", "value": "Same"}],
        title_ops("Same"),
    ):
        ack = await a.submit(event["id"], ops)
        assert (ack["type"], ack["version"], ack.get("noop")) == ("ack", 1, True), ack
    assert (await a.submit(event["id"], title_ops("Changed")))["version"] == 2
    await b.recv_until(is_type("patch", event["id"]))
    assert b.versions(event["id"]) == [2]
    assert (await current(client, alice, event["id"]))["version"] == 2


def hold_the_room_stream(
    server: RunningServer, event_id: int, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], None]:
    """Make the room's stream lag: the broadcast holds the event's messages back until
    the function answered is called."""
    state = server.server.config.app.state.tandem
    channel, deliver = state.rooms.channels.event(event_id), state.broadcast._deliver
    held: list[bytes] = []

    def hold(to: str, payload: bytes) -> None:
        if to == channel:
            held.append(payload)
        else:
            deliver(to, payload)

    def release() -> None:
        assert held, "nothing was held back"
        monkeypatch.setattr(state.broadcast, "_deliver", deliver)
        for payload in held:
            deliver(channel, payload)

    monkeypatch.setattr(state.broadcast, "_deliver", hold)
    return release


async def a_room_behind(
    server: RunningServer,
    client: httpx.AsyncClient,
    shared_event: SharedEvents,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[WSClient, int, Callable[[], None]]:
    """A joined socket, and its room held at version 1 while a REST edit made version 2
    (titled "From REST"); the function answered lets the room's stream go on."""
    room = await shared_event()
    a = await room.socket(room.owner)
    release = hold_the_room_stream(server, room.id, monkeypatch)
    response = await client.put(
        f"{EVENTS}/{room.id}", json={"title": "From REST"}, headers=room.owner.headers
    )
    assert response.status_code == 200, response.text
    return a, room.id, release


async def test_noop_ack_comes_after_the_version_it_names(
    server: RunningServer,
    client: httpx.AsyncClient,
    shared_event: SharedEvents,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a joined room a noop ack naming a version the room has not delivered waits for it."""
    a, event_id, release = await a_room_behind(server, client, shared_event, monkeypatch)
    test = [{"op": "test", "path": "/title", "value": "From REST"}]
    op_id = await a.patch(event_id, test, base_version=2)
    await a.send({"type": "ping"})
    await a.recv_until(is_type("pong"))  # the patch has been handled
    release()
    ack = await a.reply_to(op_id)
    assert (ack["type"], ack["version"], ack.get("noop")) == ("ack", 2, True), ack
    streamed = [m for m in a.log if m.get("type") in ("patch", "ack")]
    assert [(m["type"], m["version"]) for m in streamed] == [("patch", 2), ("ack", 2)], a.log


async def test_a_noop_ack_still_waiting_is_sent_before_left(
    server: RunningServer,
    client: httpx.AsyncClient,
    shared_event: SharedEvents,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A socket that leaves while its noop ack waits for the version it names gets the
    ack before `left`: every patch is answered, whenever the socket leaves."""
    a, event_id, release = await a_room_behind(server, client, shared_event, monkeypatch)
    test = [{"op": "test", "path": "/title", "value": "From REST"}]
    op_id = await a.patch(event_id, test, base_version=2)
    left = await a.leave(event_id)
    assert left == {"type": "left", "event_id": event_id}, left
    answered = [(m["type"], m.get("op_id"), m.get("version")) for m in a.log]
    assert answered[-2:] == [("ack", op_id, 2), ("left", None, None)], a.log
    release()


async def test_resubmitted_op_id_acks_original_version_and_applies_nothing(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """Resending an applied op_id answers its original version; nothing is applied or sent."""
    room = await shared_event()
    alice, event = room.owner, room.event
    a, b = await room.sockets(alice, alice)
    assert (await a.submit(event["id"], title_ops("first"), 1, "dup-1"))["version"] == 2
    assert (await a.submit(event["id"], title_ops("second"), 2, "x-2"))["version"] == 3
    again = await a.submit(event["id"], title_ops("different ops"), 1, "dup-1")
    assert (again["type"], again["version"], again["op_id"]) == ("ack", 2, "dup-1"), again
    assert (await a.submit(event["id"], title_ops("third"), 3, "x-3"))["version"] == 4
    await b.recv_until(lambda m: m.get("type") == "patch" and m["version"] == 4)
    assert b.versions(event["id"]) == [2, 3, 4]
    got = await current(client, alice, event["id"])
    assert (got["version"], got["title"]) == (4, "third")


async def test_viewer_patch_is_forbidden(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A viewer may join, but its patch is refused with forbidden."""
    room = await shared_event("viewer")
    (alice, vera), event = room.people, room.event
    v = await room.socket(vera, join=False)
    assert (await v.join(event["id"]))["role"] == "viewer"
    error = await v.submit(event["id"], title_ops("nope"), op_id="v-1")
    assert (error["type"], error["code"], error["event_id"]) == ("error", "forbidden", event["id"])
    assert error["op_id"] == "v-1"
    assert (await current(client, alice, event["id"]))["version"] == 1


@pytest.mark.parametrize(
    ("ops", "code"),
    [
        ([{"op": "replace", "path": "/id", "value": 5}], "invalid_patch"),
        ([{"op": "replace", "path": "/version", "value": 5}], "invalid_patch"),
        ([{"op": "replace", "path": "/owner_id", "value": 5}], "invalid_patch"),
        ([{"op": "frobnicate", "path": "/title", "value": "x"}], "invalid_patch"),
        ([{"op": "replace", "value": "x"}], "invalid_patch"),
        ([], "invalid_patch"),
        ({"op": "replace", "path": "/title", "value": "x"}, "invalid_patch"),
        ([{"op": "test", "path": "/title", "value": "not the title"}], "test_failed"),
        ([{"op": "replace", "path": "/title", "value": ""}], "invalid_event"),
        (
            [{"op": "replace", "path": "/end_time", "value": "2020-01-01T00:00:00Z"}],
            "invalid_event",
        ),
        ([{"op": "remove", "path": "/title"}], "invalid_event"),
        ([{"op": "add", "path": f"/metadata/k{i}", "value": i} for i in range(101)], "too_large"),
    ],
)
async def test_refused_patch_carries_code_event_and_op_id(
    client: httpx.AsyncClient, shared_event: SharedEvents, ops: object, code: str
) -> None:
    """Each refused patch is an error with its code, event_id and op_id; nothing is stored."""
    room = await shared_event()
    alice, event = room.owner, room.event
    a, b = await room.sockets(alice, alice)
    error = await a.submit(event["id"], ops, base_version=1, op_id="bad-1")
    assert error["type"] == "error", error
    assert (error["code"], error["event_id"], error["op_id"]) == (code, event["id"], "bad-1")
    if code == "invalid_event":
        # The fields at fault, as a REST 422 names them.
        assert error["details"]["fields"], error
    assert (await current(client, alice, event["id"]))["version"] == 1
    # Nothing was sent: the next version b sees is the next good patch, as version 2.
    assert (await a.submit(event["id"], title_ops("good"), base_version=1))["version"] == 2
    await b.recv_until(is_type("patch", event["id"]))
    assert b.versions(event["id"]) == [2]


async def test_exactly_100_ops_are_accepted(shared_event: SharedEvents) -> None:
    """The op limit is inclusive: 100 ops are one new version."""
    room = await shared_event()
    alice, event = room.owner, room.event
    a = await room.socket(alice)
    ops = [{"op": "add", "path": f"/metadata/k{i}", "value": i} for i in range(100)]
    assert (await a.submit(event["id"], ops))["version"] == 2


async def test_patch_on_an_event_not_joined_is_answered_by_op_id(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A patch for a room not joined is applied and acked by op_id; the socket goes on.

    PROTOCOL.md is silent on it; the README (API notes, WebSocket) chose to apply it.
    """
    room = await shared_event()
    alice, event = room.owner, room.event
    a = await room.socket(alice, join=False)
    reply = await a.submit(event["id"], title_ops("unjoined"), base_version=1, op_id="u-1")
    assert (reply["type"], reply["event_id"], reply["op_id"]) == ("ack", event["id"], "u-1")
    assert reply["version"] == 2, reply
    got = await current(client, alice, event["id"])
    assert (got["version"], got["title"]) == (2, "unjoined")
    await a.ping()


async def test_stale_base_on_overlapping_path_is_version_conflict(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A stale base_version whose path was changed since is version_conflict with the version."""
    room = await shared_event()
    alice, event = room.owner, room.event
    a = await room.socket(alice)
    assert (await a.submit(event["id"], title_ops("v2"), base_version=1))["version"] == 2
    assert (await a.submit(event["id"], title_ops("v3"), base_version=2))["version"] == 3
    conflict = await a.submit(event["id"], title_ops("stale"), base_version=1, op_id="s-1")
    assert (conflict["type"], conflict["code"]) == ("error", "version_conflict"), conflict
    assert (conflict["version"], conflict["event_id"], conflict["op_id"]) == (3, event["id"], "s-1")
    # A change below a replaced path overlaps too.
    whole = [{"op": "replace", "path": "/metadata", "value": {"a": 1}}]
    assert (await a.submit(event["id"], whole, base_version=3))["version"] == 4
    below = [{"op": "add", "path": "/metadata/b", "value": 2}]
    conflict = await a.submit(event["id"], below, base_version=3)
    assert (conflict["code"], conflict["version"]) == ("version_conflict", 4), conflict
    got = await current(client, alice, event["id"])
    assert (got["version"], got["title"], got["metadata"]) == (4, "v3", {"a": 1})


async def test_stale_base_on_other_path_is_rebased(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A stale base_version touching only other paths is rebased, applied and acked."""
    room = await shared_event()
    alice, event = room.owner, room.event
    a, b = await room.sockets(alice, alice)
    assert (await a.submit(event["id"], title_ops("v2"), base_version=1))["version"] == 2
    where = [{"op": "replace", "path": "/location", "value": "Room 1"}]
    ack = await b.submit(event["id"], where, base_version=1)
    assert (ack["type"], ack["version"]) == ("ack", 3), ack
    got = await current(client, alice, event["id"])
    assert (got["version"], got["title"], got["location"]) == (3, "v2", "Room 1")


async def test_rest_put_reaches_joined_sockets_as_rest_patch(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A REST PUT by another user arrives as `patch` with origin rest and that author."""
    room = await shared_event("editor")
    (alice, bob), event = room.people, room.event
    a = await room.socket(alice)
    response = await client.put(
        f"{EVENTS}/{event['id']}", json={"title": "From REST"}, headers=bob.headers
    )
    assert response.status_code == 200
    patch = await a.recv_until(is_type("patch", event["id"]))
    assert (patch["version"], patch["origin"], patch["author_id"]) == (2, "rest", bob.id)
    assert {"op": "replace", "path": "/title", "value": "From REST"} in patch["ops"]


async def test_rollback_reaches_joined_sockets_as_rollback_patch(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A rollback arrives as `patch` with origin rollback, as a new version."""
    room = await shared_event(title="Original")
    alice, event = room.owner, room.event
    a, b = await room.sockets(alice, alice)
    assert (await a.submit(event["id"], title_ops("Changed")))["version"] == 2
    response = await client.post(f"{EVENTS}/{event['id']}/rollback/1", headers=alice.headers)
    assert response.status_code == 200
    for ws in (a, b):
        patch = await ws.recv_until(lambda m: m.get("type") == "patch" and m["version"] == 3)
        assert (patch["origin"], patch["author_id"]) == ("rollback", alice.id)
        assert {"op": "replace", "path": "/title", "value": "Original"} in patch["ops"]


async def test_same_op_id_from_another_user_is_its_own_op(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """op_id deduplication is per author: another user's op with an equal op_id is applied."""
    room = await shared_event("editor")
    (alice, bob), event = room.people, room.event
    a, b = await room.sockets(alice, bob)
    assert (await a.submit(event["id"], title_ops("alice"), 1, "c1-1"))["version"] == 2
    await b.recv_until(is_type("patch", event["id"]))
    ack = await b.submit(event["id"], title_ops("bob"), 2, "c1-1")
    assert (ack["type"], ack["version"]) == ("ack", 3), ack
    assert (await current(client, alice, event["id"]))["title"] == "bob"
