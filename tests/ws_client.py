"""A small WebSocket test client for /api/v1/ws (PROTOCOL.md, WebSocket: /api/v1/ws).

One background task per connection reads every frame as it arrives, so nothing
depends on when a test gets round to reading: the task decodes the frame (JSON text
or MessagePack binary), appends it to `log` (everything, in arrival order) and to
`inbox` (what the test has not consumed yet), and records the room stream: for each
event, the versions delivered as `patch` or (non-noop) `ack`, in arrival order. The
close code is kept when the server closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

JSON = "tandem.v1.json"
MSGPACK = "tandem.v1.msgpack"

Message = dict[str, Any]
Predicate = Callable[[Message], bool]

# The longest a Writer waits before retrying a conflicting op (seconds); see Writer.
BACKOFF_CAP = 0.05


@dataclass(frozen=True)
class Delivery:
    """One version as a client saw it on a room stream."""

    version: int
    kind: str  # "patch" or "ack"
    op_id: str | None
    author_id: int | None
    origin: str | None


class WSClient:
    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.ws = ws
        self.name = name
        self.binary = ws.subprotocol == MSGPACK
        self.log: list[Message] = []
        self.frame_kinds: list[str] = []  # "text" or "binary", one per received frame
        self.inbox: list[Message] = []
        self.deliveries: dict[int, list[Delivery]] = defaultdict(list)
        self.latest: dict[int, int] = {}  # highest version known per event
        self.joined_at: dict[int, int] = {}
        self.ready: Message | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._op_ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    # -- reading ---------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self.frame_kinds.append("binary" if isinstance(frame, bytes) else "text")
                message = _decode(frame)
                self._record(message)
                self.log.append(message)
                self.inbox.append(message)
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason or ""
            self.closed.set()
            self._changed.set()

    def _record(self, message: Message) -> None:
        kind = message.get("type")
        event_id = message.get("event_id")
        if kind == "ready" and self.ready is None:
            self.ready = message
        elif kind == "joined" and isinstance(event_id, int):
            self.joined_at[event_id] = message["version"]
            self.latest[event_id] = max(self.latest.get(event_id, 0), message["version"])
        elif kind in ("patch", "ack") and isinstance(event_id, int):
            version = message.get("version")
            if not isinstance(version, int):
                return
            self.latest[event_id] = max(self.latest.get(event_id, 0), version)
            if kind == "ack" and message.get("noop"):
                return  # a noop creates no version: it is not part of the stream
            self.deliveries[event_id].append(
                Delivery(
                    version,
                    kind,
                    message.get("op_id"),
                    message.get("author_id"),
                    message.get("origin"),
                )
            )

    def versions(self, event_id: int) -> list[int]:
        """Every version delivered for `event_id` (patch or ack), in arrival order."""
        return [d.version for d in self.deliveries[event_id]]

    async def recv(self, timeout: float = 5) -> Message:
        """The next unconsumed message."""
        return await self.recv_until(lambda _: True, timeout)

    async def recv_until(
        self, predicate: Predicate, timeout: float = 5, keep: bool = True
    ) -> Message:
        """The first unconsumed message matching `predicate`.

        keep=True leaves the other messages in the inbox for later; keep=False drops
        the ones that arrived before the match.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for index, message in enumerate(self.inbox):
                if predicate(message):
                    if keep:
                        del self.inbox[index]
                    else:
                        del self.inbox[: index + 1]
                    return message
            if self.closed.is_set():
                raise AssertionError(
                    f"{self.name}: closed ({self.close_code} {self.close_reason!r}) while "
                    f"waiting; unconsumed: {self.inbox[-10:]}"
                )
            if not await self._next_change(deadline):
                raise AssertionError(
                    f"{self.name}: no matching message within {timeout}s; "
                    f"unconsumed: {self.inbox[-10:]}"
                )

    async def caught_up(self, event_id: int, version: int, timeout: float = 10) -> None:
        """Wait until `version` of `event_id` (or a later one) has been delivered."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.latest.get(event_id, 0) < version:
            if self.closed.is_set() or not await self._next_change(deadline):
                raise AssertionError(
                    f"{self.name}: version {version} of event {event_id} not delivered within "
                    f"{timeout}s (closed: {self.closed.is_set()}); latest {self.latest}"
                )

    async def _next_change(self, deadline: float) -> bool:
        """Wait for the next frame or the close, until `deadline` (loop time); False past it."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return False
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    async def expect_close(self, code: int, timeout: float = 5) -> list[Message]:
        """Wait for the server to close with `code`; answer what arrived unconsumed before."""
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: still open after {timeout}s (expected close {code}); "
                f"unconsumed: {self.inbox[-10:]}"
            ) from None
        assert self.close_code == code, (
            f"{self.name}: closed with {self.close_code} {self.close_reason!r}, expected {code}; "
            f"unconsumed: {self.inbox[-10:]}"
        )
        return list(self.inbox)

    # -- sending ---------------------------------------------------------------

    async def send(self, message: Message) -> None:
        if self.binary:
            await self.ws.send(msgspec.msgpack.encode(message))
        else:
            await self.ws.send(json.dumps(message))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    def next_op_id(self) -> str:
        return f"{self.name}-{next(self._op_ids)}"

    async def ping(self, timeout: float = 5) -> list[Message]:
        """Send `ping`, wait for `pong`; answer (and consume) what arrived before it."""
        await self.send({"type": "ping"})
        await self.recv_until(lambda m: m.get("type") == "pong", timeout)
        before, self.inbox = list(self.inbox), []
        return before

    async def join_reply(
        self, event_id: int, since: int | None = None, timeout: float = 5
    ) -> Message:
        """Send `join` and answer the `joined` or the `error` for that event."""
        message: Message = {"type": "join", "event_id": event_id}
        if since is not None:
            message["since"] = since
        await self.send(message)
        return await self.recv_until(
            lambda m: m.get("type") in ("joined", "error") and m.get("event_id") == event_id,
            timeout,
        )

    async def join(self, event_id: int, since: int | None = None, timeout: float = 5) -> Message:
        """Join a room; fail unless the answer is `joined`."""
        reply = await self.join_reply(event_id, since, timeout)
        assert reply["type"] == "joined", f"{self.name}: join {event_id} answered {reply}"
        return reply

    async def leave(self, event_id: int, timeout: float = 5) -> Message:
        await self.send({"type": "leave", "event_id": event_id})
        return await self.recv_until(
            lambda m: m.get("type") in ("left", "error") and m.get("event_id") == event_id,
            timeout,
        )

    async def patch(
        self,
        event_id: int,
        ops: Any,
        base_version: int | None = None,
        op_id: str | None = None,
    ) -> str:
        """Send a `patch` (base_version defaults to the latest version seen); answer its op_id."""
        op_id = op_id or self.next_op_id()
        if base_version is None:
            base_version = self.latest[event_id]
        await self.send(
            {
                "type": "patch",
                "event_id": event_id,
                "op_id": op_id,
                "base_version": base_version,
                "ops": ops,
            }
        )
        return op_id

    async def submit(
        self,
        event_id: int,
        ops: Any,
        base_version: int | None = None,
        op_id: str | None = None,
        timeout: float = 10,
        keep: bool = True,
    ) -> Message:
        """Send a `patch` and answer its `ack` or `error` (matched by op_id)."""
        op_id = await self.patch(event_id, ops, base_version, op_id)
        return await self.reply_to(op_id, timeout, keep)

    async def reply_to(self, op_id: str, timeout: float = 10, keep: bool = True) -> Message:
        return await self.recv_until(
            lambda m: m.get("type") in ("ack", "error") and m.get("op_id") == op_id, timeout, keep
        )

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.wait_for(self._reader, 10)


def _decode(frame: str | bytes) -> Message:
    try:
        value = json.loads(frame) if isinstance(frame, str) else msgspec.msgpack.decode(frame)
    except (ValueError, msgspec.DecodeError) as exc:
        return {"type": "__undecodable__", "error": str(exc), "frame": frame[:200]}
    if not isinstance(value, dict):
        return {"type": "__not_an_object__", "value": value}
    return value


async def connect(
    url: str,
    token: str | None = None,
    *,
    header_auth: bool = True,
    subprotocol: str | None = JSON,
    name: str = "ws",
) -> WSClient:
    """Open a socket; authenticate by header (default) or by a first `auth` message."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None and header_auth else None
    ws = await ws_connect(
        url,
        additional_headers=headers,
        subprotocols=[subprotocol] if subprotocol else None,  # type: ignore[list-item]
        max_size=None,
        compression=None,  # frame sizes on the wire are what the test sends
        open_timeout=10,
        close_timeout=5,
    )
    client = WSClient(ws, name)
    if token is not None and not header_auth:
        await client.send({"type": "auth", "token": token})
    return client


class Sockets:
    """Opens clients and closes them all at the end of a test."""

    def __init__(self) -> None:
        self.clients: list[WSClient] = []
        self._names = itertools.count(1)

    async def connect(self, url: str, token: str | None = None, **options: Any) -> WSClient:
        options.setdefault("name", f"c{next(self._names)}")
        client = await connect(url, token, **options)
        self.clients.append(client)
        return client

    async def ready(self, url: str, token: str, **options: Any) -> WSClient:
        """An authenticated client whose `ready` has arrived (and been consumed)."""
        client = await self.connect(url, token, **options)
        first = await client.recv(10)
        assert first.get("type") == "ready", f"{client.name}: first message {first}"
        return client

    async def joined(self, url: str, token: str, event_id: int) -> WSClient:
        """A ready client that has joined `event_id` (its `joined` consumed)."""
        client = await self.ready(url, token)
        await client.join(event_id)
        return client

    async def close_all(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


class Writer:
    """Submits ops to one room and retries on version_conflict, ShareDB-style.

    On a conflict it catches up from the room stream (waits until the versions up to
    the one named in the error have been delivered to it) and resubmits the same
    op_id with the new base_version: a refused op was not applied, so the op_id is
    still unused. A rate_limited refusal is retried after a short back-off.

    Each retry first waits a random time that doubles with every conflict in a row (up
    to BACKOFF_CAP), as a polite client does: the server sends a room's frames in join
    order and the tests' sockets share one loop, so writers retrying in lockstep would
    always be decided the same way, and the last one to join could lose every race.
    """

    def __init__(self, client: WSClient, event_id: int, timeout: float = 30) -> None:
        self.client = client
        self._pace = random.Random(client.name)  # seeded: the same draws on every run
        self.event_id = event_id
        self.timeout = timeout
        self.accepted: dict[str, int] = {}  # op_id -> version
        self.noops: list[str] = []
        self.conflicts = 0
        self.rate_limited = 0

    async def submit(self, ops: list[Message], attempts: int = 1000) -> Message:
        client, event_id = self.client, self.event_id
        op_id = client.next_op_id()
        for attempt in range(attempts):
            base = client.latest[event_id]
            reply = await client.submit(event_id, ops, base, op_id, self.timeout, keep=False)
            if reply["type"] == "ack":
                if reply.get("noop"):
                    self.noops.append(op_id)
                else:
                    self.accepted[op_id] = reply["version"]
                return reply
            if reply.get("code") == "rate_limited":
                # Back off as a polite client would; the op was not applied.
                self.rate_limited += 1
                await asyncio.sleep(0.05)
                continue
            assert reply.get("code") == "version_conflict", f"{client.name}: {reply}"
            assert isinstance(reply.get("version"), int) and reply["version"] > base, reply
            self.conflicts += 1
            await client.caught_up(event_id, reply["version"], self.timeout)
            backoff = min(BACKOFF_CAP, 0.001 * 2 ** min(attempt, 10))
            await asyncio.sleep(self._pace.uniform(0, backoff))
        raise AssertionError(f"{client.name}: {op_id} still conflicting after {attempts} tries")


def is_error(code: str, event_id: int | None = None) -> Predicate:
    def match(message: Message) -> bool:
        if message.get("type") != "error" or message.get("code") != code:
            return False
        return event_id is None or message.get("event_id") == event_id

    return match


def is_type(kind: str, event_id: int | None = None) -> Predicate:
    def match(message: Message) -> bool:
        if message.get("type") != kind:
            return False
        return event_id is None or message.get("event_id") == event_id

    return match
