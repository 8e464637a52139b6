"""Frames built to break the parser (deep nesting, bad UTF-8) are invalid_message, and the
socket goes on working (PROTOCOL.md, WebSocket: malformed frames)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from realtime.settings import Settings
from tests.conftest import fresh_sqlite
from tests.support import RunningServer, create_event, register
from tests.ws_client import MSGPACK, Sockets, WSClient

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite alone: what is refused here is refused while decoding, before any query."""
    return fresh_sqlite(sqlite_template, tmp_path)


# A MessagePack map {"type": "p\xffng"}: its string is not UTF-8.
BAD_UTF8 = bytes.fromhex("81a474797065a470ff6e67")


def nested(depth: int) -> Any:
    """An object `depth` levels deep: {"a": {"a": ... 1}}."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


async def joined(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets, subprotocol: str
) -> tuple[WSClient, int]:
    alice = await register(client)
    event_id = (await create_event(client, alice))["id"]
    ws = await sockets.ready(server.ws_url, alice.access_token, subprotocol=subprotocol)
    await ws.join(event_id)
    return ws, event_id


async def refused_then_pong(ws: WSClient, frame: str | bytes) -> dict[str, Any]:
    """Send `frame`; answer the error it got, after checking a ping still gets its pong."""
    await ws.send_raw(frame)
    error = await ws.recv()
    assert (error["type"], error["code"]) == ("error", "invalid_message"), error
    await ws.ping()
    return error


def deep_presence_frame(subprotocol: str, event_id: int, depth: int) -> str | bytes:
    """A presence frame whose state is nested(depth), written out by hand: the encoders
    themselves give up on such depths."""
    if subprotocol == MSGPACK:
        head = msgspec.msgpack.encode({"type": "presence", "event_id": event_id, "state": 0})
        return head[:-1] + b"\x81\xa1a" * depth + b"\x01"  # each level a one-entry map
    return (
        f'{{"type": "presence", "event_id": {event_id}, "state": '
        + '{"a": ' * depth
        + "1"
        + "}" * depth
        + "}"
    )


def presence_frame(subprotocol: str, event_id: int, state: Any) -> str | bytes:
    message = {"type": "presence", "event_id": event_id, "state": state}
    if subprotocol == MSGPACK:
        return msgspec.msgpack.encode(message)
    return msgspec.json.encode(message).decode()


@pytest.mark.parametrize("subprotocol", ["tandem.v1.json", MSGPACK])
async def test_presence_nested_1000_deep_is_invalid_message(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets, subprotocol: str
) -> None:
    """A presence state nested 1,000 deep is invalid_message, and ping still gets pong."""
    ws, event_id = await joined(server, client, sockets, subprotocol)
    await refused_then_pong(ws, deep_presence_frame(subprotocol, event_id, 1000))


@pytest.mark.parametrize("subprotocol", ["tandem.v1.json", MSGPACK])
async def test_nesting_limit_is_enforced_below_what_the_decoder_survives(
    server: RunningServer,
    client: httpx.AsyncClient,
    sockets: Sockets,
    settings: Settings,
    subprotocol: str,
) -> None:
    """One level past MAX_NESTING_DEPTH is refused naming the limit; at the limit, presence
    is taken (the message itself is the first level)."""
    ws, event_id = await joined(server, client, sockets, subprotocol)
    limit = settings.max_nesting_depth
    too_deep = presence_frame(subprotocol, event_id, nested(limit))
    error = await refused_then_pong(ws, too_deep)
    assert str(limit) in error["message"]
    await ws.send_raw(presence_frame(subprotocol, event_id, nested(limit - 1)))
    await ws.ping()
    assert not [m for m in ws.log if m.get("type") == "error" and m is not error]


async def test_msgpack_string_with_invalid_utf8_is_invalid_message(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """A MessagePack string that is not UTF-8 is invalid_message, and ping still gets pong."""
    ws, _ = await joined(server, client, sockets, MSGPACK)
    await refused_then_pong(ws, BAD_UTF8)
