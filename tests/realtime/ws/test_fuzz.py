"""The WebSocket under mutated client messages (PROTOCOL.md, WebSocket: /api/v1/ws).

Valid messages of every client type are mutated from a fixed seed (fields dropped,
retyped, pushed past limits, ops made of odd operations and paths) and sent, in JSON
and in MessagePack, to events the caller owns, edits, only views, cannot see, and
that do not exist. After each one a `ping` marks the end of its answers. Every frame
must be a contract frame; errors carry contract codes and leak nothing; events the
caller may not edit never change; every close uses a contract code; the server logs
no error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support import Account, RunningServer, create_event, register, share
from tests.ws_client import JSON, MSGPACK, Message, Sockets, WSClient

pytestmark = pytest.mark.timeout(180)

SEED = 20261121
MESSAGES = 400
SERVER_TYPES = {
    "ready", "joined", "left", "ack", "patch", "presence", "access", "removed", "error", "pong",
}  # fmt: skip
ERROR_CODES = {
    "malformed_request", "unauthenticated", "token_expired", "token_revoked", "forbidden",
    "not_found", "version_conflict", "precondition_failed", "too_large", "validation_error",
    "invalid_patch", "invalid_event", "test_failed", "rate_limited", "unavailable",
    "invalid_message", "schedule_conflict",
}  # fmt: skip
# 4400 after 20 malformed frames in a minute (the fuzzer sends many), 4401 for an
# `auth` with a bad token, 1009 for a frame over 1 MiB.
CONTRACT_CLOSES = {4400, 4401, 1009}
LEAKS = ("Traceback", 'File "', "sqlalchemy", "asyncpg", "sqlite3", "SELECT ", "INSERT ")

ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 2**31, 2**63, -(2**31) - 1, "", "x", "💥\u0000",
    "a" * 2000, [], {}, [1, [2, [3]]], {"a": {"b": None}}, "2026-01-01T00:00:00Z",
    float("1e308"),
]  # fmt: skip
PATHS = [
    "/title", "/description", "/location", "/start_time", "/end_time", "/timezone",
    "/all_day", "/recurrence", "/recurrence/0", "/recurrence/-", "/metadata",
    "/metadata/color", "/metadata/a~1b", "/metadata/~2", "/id", "/version", "/owner_id",
    "", "/", "title", "/title/0", "/metadata/color/deeper",
]  # fmt: skip
OPS = ["add", "remove", "replace", "move", "copy", "test", "delete", "", None, 3]


@dataclass
class Targets:
    """Events by what the fuzzing user may do with them."""

    owned: int
    edited: int
    viewed: int
    hidden: int
    missing: int = 2_000_000

    @property
    def ids(self) -> list[int]:
        return [self.owned, self.edited, self.viewed, self.hidden, self.missing]


def odd(rng: random.Random) -> Any:
    return rng.choice(ODD_VALUES)


def operation(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.1:
        return odd(rng)
    if roll < 0.5:  # well formed, so that edits get through to the engine's later rules
        return rng.choice(
            [
                {"op": "replace", "path": "/title", "value": f"fuzz {rng.randrange(1000)}"},
                {"op": "add", "path": f"/metadata/k{rng.randrange(5)}", "value": odd(rng)},
                {"op": "remove", "path": f"/metadata/k{rng.randrange(5)}"},
                {"op": "replace", "path": "/location", "value": odd(rng)},
                {"op": "test", "path": "/title", "value": "fuzz 1"},
            ]
        )
    op: dict[str, Any] = {"op": rng.choice(OPS), "path": rng.choice(PATHS)}
    if rng.random() < 0.8:
        op["value"] = odd(rng) if rng.random() < 0.6 else f"fuzz {rng.randrange(1000)}"
    if rng.random() < 0.3:
        op["from"] = rng.choice(PATHS)
    return op


def valid_message(rng: random.Random, targets: Targets, n: int) -> Message:
    event_id = rng.choice(targets.ids)
    kind = rng.choice(["join", "join", "leave", "patch", "patch", "patch", "presence", "auth"])
    if kind == "join":
        since = rng.choice([None, 0, 1, 5])
        return {"type": "join", "event_id": event_id, **({"since": since} if since else {})}
    if kind == "leave":
        return {"type": "leave", "event_id": event_id}
    if kind == "presence":
        return {"type": "presence", "event_id": event_id, "state": {"focus": odd(rng)}}
    if kind == "auth":
        return {"type": "auth", "token": odd(rng)}
    ops = [operation(rng) for _ in range(rng.choice([1, 1, 1, 1, 2, 3, 0, 101]))]
    return {
        "type": "patch",
        # Mostly events the caller may edit, so that edits reach the engine's later rules.
        "event_id": rng.choice([targets.owned, targets.edited, event_id]),
        "op_id": f"fuzz-{n}",
        "base_version": rng.choice([1, 2, 3, 50]),
        "ops": ops,
    }


def mutated(rng: random.Random, message: Message) -> Message:
    message = dict(message)
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        key = rng.choice([*message, "type", "extra"])
        action = rng.random()
        if action < 0.3:
            message.pop(key, None)
        elif action < 0.9:
            message[key] = odd(rng)
        else:
            message[key] = rng.choice(["JOIN", "patch ", "dance", "__proto__"])
    return message


def encode(rng: random.Random, message: Message, subprotocol: str) -> str | bytes:
    data: str | bytes = (
        msgspec.msgpack.encode(message) if subprotocol == MSGPACK else json.dumps(message)
    )
    if rng.random() < 0.05:
        return data[: rng.randrange(len(data))]  # cut short
    return data


def check_frame(frame: Message, targets: Targets) -> None:
    assert frame.get("type") in SERVER_TYPES, frame
    text = json.dumps(frame)
    assert not any(leak in text for leak in LEAKS), frame
    if frame["type"] == "error":
        assert frame.get("code") in ERROR_CODES, frame
        assert isinstance(frame.get("message"), str), frame
    elif frame["type"] != "left" and frame.get("event_id") in (targets.hidden, targets.missing):
        # `left` answers any leave (README), saying nothing about the event.
        raise AssertionError(f"a frame about an event the caller cannot see: {frame}")
    if frame["type"] == "ack" and not frame.get("noop"):
        assert frame["event_id"] in (targets.owned, targets.edited), frame


async def exchange(ws: WSClient, raw: str | bytes) -> list[Message]:
    """Send one frame, then a ping; the frames that came back before the pong (or the close)."""
    with contextlib.suppress(ConnectionClosed):
        await ws.send_raw(raw)
        await ws.send({"type": "ping"})
    frames = []
    while ws.inbox or not ws.closed.is_set():
        try:
            frame = await ws.recv(timeout=10)
        except AssertionError:
            if ws.closed.is_set():
                continue  # closed while waiting: the loop ends once the inbox is drained
            raise
        if frame.get("type") == "pong":
            break
        frames.append(frame)
    return frames


@pytest.mark.parametrize("subprotocol", [JSON, MSGPACK])
async def test_mutated_messages_get_contract_answers_only(
    subprotocol: str,
    server: RunningServer,
    client: httpx.AsyncClient,
    sockets: Sockets,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mutated messages get contract frames only, change nothing they may not, log no error."""
    alice, bob = await register(client), await register(client)
    targets = Targets(
        owned=(await create_event(client, bob))["id"],
        edited=(await create_event(client, alice))["id"],
        viewed=(await create_event(client, alice))["id"],
        hidden=(await create_event(client, alice))["id"],
    )
    await share(client, alice, targets.edited, bob, "editor")
    await share(client, alice, targets.viewed, bob, "viewer")
    rng = random.Random(SEED)
    caplog.set_level(logging.WARNING)
    ws = await sockets.ready(server.ws_url, bob.access_token, subprotocol=subprotocol)
    seen: Counter[str] = Counter()  # frame types, error codes and closes
    for n in range(MESSAGES):
        raw = encode(rng, mutated(rng, valid_message(rng, targets, n)), subprotocol)
        for frame in await exchange(ws, raw):
            check_frame(frame, targets)
            seen[frame["code"] if frame["type"] == "error" else frame["type"]] += 1
        if ws.closed.is_set():
            assert ws.close_code in CONTRACT_CLOSES, f"closed {ws.close_code} after {raw[:200]!r}"
            seen[f"close {ws.close_code}"] += 1
            ws = await sockets.ready(server.ws_url, bob.access_token, subprotocol=subprotocol)
    # The mutations must get past the parser to the edit engine's rules.
    reached = {"joined", "ack", "invalid_message", "invalid_patch", "forbidden", "not_found"}
    assert reached <= seen.keys(), seen

    await unchanged(client, alice, targets.viewed)
    await unchanged(client, alice, targets.hidden)
    for event_id in (targets.owned, targets.edited):
        await gapless_history(client, alice if event_id == targets.edited else bob, event_id)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def unchanged(client: httpx.AsyncClient, owner: Account, event_id: int) -> None:
    got = await client.get(f"/api/v1/events/{event_id}", headers=owner.headers)
    assert got.json()["version"] == 1, got.json()


async def gapless_history(client: httpx.AsyncClient, reader: Account, event_id: int) -> None:
    got = await client.get(f"/api/v1/events/{event_id}", headers=reader.headers)
    version = got.json()["version"]
    history = await client.get(
        f"/api/v1/events/{event_id}/history", params={"limit": 200}, headers=reader.headers
    )
    assert history.status_code == 200, history.text
    newest_first = [item["version"] for item in history.json()["items"]]
    assert newest_first == list(range(version, 0, -1))
