"""Malformed and oversized frames, and the MessagePack subprotocol (PROTOCOL.md, WebSocket)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime

import httpx
import msgspec
import pytest
from websockets.exceptions import ConnectionClosed

from tests.shared_event import SharedEvents
from tests.support import RunningServer, create_event, register, title_ops
from tests.ws_client import MSGPACK, Sockets, WSClient, is_error, is_type

pytestmark = pytest.mark.timeout(120)

MALFORMED: list[str | bytes] = [
    "this is not json",
    "{",
    "[1, 2, 3]",
    '"a string"',
    "{}",
    '{"no_type": 1}',
    '{"type": "dance"}',
    '{"type": 7}',
    '{"type": "join"}',
    '{"type": "join", "event_id": "abc"}',
    '{"type": "join", "event_id": 1, "since": "yesterday"}',
    '{"type": "leave"}',
    '{"type": "patch", "event_id": 1}',
    '{"type": "patch", "event_id": 1, "op_id": 5, "base_version": 1, "ops": []}',
    '{"type": "patch", "event_id": 1, "op_id": "x", "base_version": "one", "ops": []}',
    '{"type": "auth"}',
    '{"type": "presence", "event_id": 1, "state": "focused"}',
    # Numbers past the database's integer columns never reach a query.
    '{"type": "join", "event_id": 4294967296}',
    '{"type": "join", "event_id": 1, "since": 99999999999999999999}',
    '{"type": "patch", "event_id": 1, "op_id": "x", "base_version": 3000000000, "ops": []}',
    # PostgreSQL cannot store U+0000: refused on arrival, on SQLite too.
    '{"type": "patch", "event_id": 1, "op_id": "a\\u0000", "base_version": 1, "ops": []}',
    '{"type": "patch", "event_id": 1, "op_id": "x", "base_version": 1,'
    ' "ops": [{"op": "add", "path": "/metadata/k", "value": {"a\\u0000": 1}}]}',
    '{"type": "auth", "token": "\\u0000"}',
]


async def send_ignoring_close(ws: WSClient, data: str | bytes) -> None:
    """The server may close while a big frame is still being sent."""
    with contextlib.suppress(ConnectionClosed):
        await ws.send_raw(data)


@pytest.mark.parametrize("frame", MALFORMED)
async def test_malformed_frame_is_invalid_message_and_socket_stays(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets, frame: str
) -> None:
    """Each kind of malformed frame is answered invalid_message; ping still answers pong."""
    alice = await register(client)
    ws = await sockets.ready(server.ws_url, alice.access_token)
    await ws.send_raw(frame)
    error = await ws.recv()
    assert (error["type"], error["code"]) == ("error", "invalid_message"), error
    assert isinstance(error.get("message"), str)
    await ws.ping()


async def test_binary_frame_on_the_json_subprotocol_is_invalid_message(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """An undecodable binary frame on tandem.v1.json is malformed, not fatal."""
    alice = await register(client)
    ws = await sockets.ready(server.ws_url, alice.access_token)
    await ws.send_raw(b"\xc1\x00garbage")
    assert (await ws.recv())["code"] == "invalid_message"
    await ws.ping()


async def test_more_than_20_malformed_frames_close_4400(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """20 malformed frames are each answered; the 21st within a minute closes with 4400."""
    alice = await register(client)
    ws = await sockets.ready(server.ws_url, alice.access_token)
    for n in range(20):
        await ws.send_raw(f"garbage {n}")
    for _ in range(20):
        assert (await ws.recv())["code"] == "invalid_message"
    await ws.ping()
    await ws.send_raw("garbage 21")
    await ws.expect_close(4400, timeout=10)


async def test_message_over_64_kib_is_too_large_and_socket_stays(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """A message over 64 KiB (but under 1 MiB) is error too_large; nothing applied."""
    room = await shared_event()
    alice, event = room.owner, room.event
    ws = await room.socket(alice)
    ops = [{"op": "add", "path": "/metadata/blob", "value": "x" * 70_000}]
    await ws.patch(event["id"], ops, base_version=1, op_id="big-1")
    error = await ws.recv_until(is_type("error"))
    assert (error["code"], error.get("event_id"), error.get("op_id")) == (
        "too_large",
        event["id"],
        "big-1",
    ), error
    await ws.ping()
    got = (await client.get(f"/api/v1/events/{event['id']}", headers=alice.headers)).json()
    assert got["version"] == 1
    assert (await ws.submit(event["id"], title_ops("small"), base_version=1))["version"] == 2


async def test_refused_patch_frame_names_its_event_and_op(shared_event: SharedEvents) -> None:
    """invalid_message for a patch that reads far enough (a NUL, an extension) names its ids."""
    room = await shared_event()
    event_id = room.id
    nul = [{"op": "add", "path": "/metadata/k", "value": "a\x00"}]
    for subprotocol in (None, MSGPACK):
        options = {"subprotocol": subprotocol} if subprotocol else {}
        ws = await room.pool.ready(room.ws_url, room.owner.access_token, **options)
        await ws.patch(event_id, nul, base_version=1, op_id="nul-1")
        error = await ws.recv_until(is_type("error"))
        assert (error["code"], error.get("event_id"), error.get("op_id")) == (
            "invalid_message",
            event_id,
            "nul-1",
        ), error
    await ws.send({"type": "patch", "event_id": event_id, "op_id": "x", "base_version": "one"})
    error = await ws.recv_until(is_type("error"))
    assert (error.get("event_id"), error.get("op_id")) == (event_id, "x"), error
    await ws.send_raw(b"\xc1")
    error = await ws.recv_until(is_type("error"))
    assert "event_id" not in error and "op_id" not in error, error


async def test_frame_over_1_mib_closes_1009(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """A frame over 1 MiB closes the connection with 1009."""
    alice = await register(client)
    ws = await sockets.ready(server.ws_url, alice.access_token)
    payload = json.dumps({"type": "ping", "pad": "x" * (1024 * 1024 + 10)})
    await send_ignoring_close(ws, payload)
    await ws.expect_close(1009, timeout=10)


async def test_msgpack_subprotocol_round_trip(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """tandem.v1.msgpack speaks binary frames with the same messages; JSON peers interoperate."""
    alice = await register(client)
    event = await create_event(client, alice)
    packed = await sockets.connect(server.ws_url, alice.access_token, subprotocol=MSGPACK)
    assert packed.ws.subprotocol == MSGPACK
    ready = await packed.recv(10)
    assert ready["type"] == "ready" and ready["user"]["id"] == alice.id
    plain = await sockets.ready(server.ws_url, alice.access_token)
    joined = await packed.join(event["id"])
    assert (joined["version"], joined["role"]) == (1, "owner")
    await plain.join(event["id"])
    ack = await packed.submit(event["id"], title_ops("packed"), base_version=1, op_id="mp-1")
    assert (ack["type"], ack["version"], ack["op_id"]) == ("ack", 2, "mp-1")
    patch = await plain.recv_until(is_type("patch", event["id"]))
    assert (patch["ops"], patch["op_id"]) == (title_ops("packed"), "mp-1")
    assert (await plain.submit(event["id"], title_ops("plain")))["version"] == 3
    patch = await packed.recv_until(is_type("patch", event["id"]))
    assert (patch["version"], patch["ops"]) == (3, title_ops("plain"))
    await packed.send({"type": "ping"})
    assert await packed.recv_until(is_type("pong")) == {"type": "pong"}
    assert set(packed.frame_kinds) == {"binary"}
    assert set(plain.frame_kinds) == {"text"}


async def test_msgpack_garbage_is_invalid_message(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """Undecodable or non-map MessagePack is invalid_message on the msgpack subprotocol."""
    alice = await register(client)
    packed = await sockets.connect(server.ws_url, alice.access_token, subprotocol=MSGPACK)
    assert (await packed.recv(10))["type"] == "ready"
    for frame in (b"\xc1", msgspec.msgpack.encode([1, 2]), msgspec.msgpack.encode({"type": "x"})):
        await packed.send_raw(frame)
        assert (await packed.recv())["code"] == "invalid_message"
    await packed.send({"type": "ping"})
    assert (await packed.recv())["type"] == "pong"


async def test_msgpack_extension_value_is_invalid_message(shared_event: SharedEvents) -> None:
    """A MessagePack extension value, in a patch or a presence state, is invalid_message."""
    room = await shared_event()
    event_id = room.id
    packed = await room.pool.ready(room.ws_url, room.owner.access_token, subprotocol=MSGPACK)
    await packed.join(event_id)
    ext = msgspec.msgpack.Ext(1, b"ab")
    replace = {"op": "replace", "path": "/title", "value": ext}
    for message in (
        {"type": "patch", "event_id": event_id, "op_id": "e", "base_version": 1, "ops": [replace]},
        {"type": "presence", "event_id": event_id, "state": {"k": msgspec.msgpack.Ext(5, b"")}},
    ):
        await packed.send(message)
        error = await packed.recv_until(is_type("error"))
        assert error["code"] == "invalid_message", error
        await packed.ping()
    assert (await packed.submit(event_id, title_ops("still usable")))["version"] == 2


# msgspec encodes a datetime as MessagePack's timestamp extension (type -1), and decodes
# that one itself, as a datetime, where it hands any other extension type to a hook.
TIMESTAMP = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "extension", [msgspec.msgpack.Ext(1, b"ab"), TIMESTAMP], ids=["type-1", "timestamp"]
)
async def test_msgpack_extension_is_invalid_message_wherever_it_sits(
    shared_event: SharedEvents, extension: object
) -> None:
    """Any MessagePack extension value, the timestamp type (-1) included, makes its frame
    invalid_message naming its ids, wherever it sits: an op's value or path, the ops
    themselves, a resent op (refused before the op_id check), a presence state."""
    room = await shared_event()
    event_id = room.id
    packed = await room.pool.ready(room.ws_url, room.owner.access_token, subprotocol=MSGPACK)
    await packed.join(event_id)
    assert (await packed.submit(event_id, title_ops("sent"), op_id="sent-1"))["version"] == 2
    patches: list[tuple[str, object]] = [
        ("value", [{"op": "replace", "path": "/title", "value": extension}]),
        ("nested", [{"op": "add", "path": "/metadata/k", "value": {"a": [extension]}}]),
        ("path", [{"op": "replace", "path": extension, "value": "x"}]),
        ("ops", extension),
        ("sent-1", [{"op": "replace", "path": "/title", "value": extension}]),
    ]
    for op_id, ops in patches:
        await packed.patch(event_id, ops, base_version=2, op_id=op_id)
        error = await packed.recv_until(is_type("error"))
        assert (error["code"], error.get("event_id"), error.get("op_id")) == (
            "invalid_message",
            event_id,
            op_id,
        ), error
        await packed.ping()
    for state in ({"k": extension}, {"k": {"deeper": [1, extension]}}):
        await packed.send({"type": "presence", "event_id": event_id, "state": state})
        error = await packed.recv_until(is_type("error"))
        assert error["code"] == "invalid_message", error
        await packed.ping()
    assert (await packed.submit(event_id, title_ops("still usable")))["version"] == 3


async def test_msgpack_first_message_auth(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """The first-message `auth` works on the msgpack subprotocol too."""
    alice = await register(client)
    packed = await sockets.connect(
        server.ws_url, alice.access_token, header_auth=False, subprotocol=MSGPACK
    )
    assert (await packed.recv(10))["type"] == "ready"


async def test_a_misbehaving_client_does_not_disturb_the_others(shared_event: SharedEvents) -> None:
    """While other sockets flood garbage and oversized frames, a room keeps its full stream."""
    room = await shared_event()
    alice, event_id = room.owner, room.id
    writer, observer, flooder = await room.sockets(alice, alice, alice)
    giant = await room.socket(alice, join=False)

    async def flood() -> None:
        for n in range(25):
            await send_ignoring_close(flooder, f"garbage {n}")
        await flooder.expect_close(4400, timeout=20)

    async def oversize() -> None:
        await send_ignoring_close(giant, "x" * (2 * 1024 * 1024))
        await giant.expect_close(1009, timeout=20)

    async def write() -> None:
        for n in range(20):
            ack = await writer.submit(event_id, title_ops(f"steady {n}"))
            assert ack["type"] == "ack", ack

    await asyncio.wait_for(asyncio.gather(flood(), oversize(), write()), 60)
    await observer.recv_until(lambda m: m.get("type") == "patch" and m["version"] == 21, 20)
    assert observer.versions(event_id) == list(range(2, 22))
    assert not [m for m in observer.log if is_error("invalid_message")(m)]
