"""The transport's ceiling: a bare WebSocket broadcast server, and W2 and W3 run against it.

The server is as lean as Python on this stack gets: uvloop, one asyncio Protocol
per socket driving the `websockets` sans-I/O server protocol (the framing uvicorn
uses under Tandem), no ASGI, no task per socket. It speaks just enough of Tandem's
dialect for the load generator's sockets: `ready` on connect, `joined` (version 0)
to a `join`, and every other frame is framed once and written to every other
socket of the sender's room, with no database, no broadcast bus and no checks.
W2 and W3 against it are the ceilings Tandem's figures are divided by.

Run alone: `python -m bench.ceiling --port 8765`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import msgspec
import uvloop
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from bench.client import Socket, close_all, open_many
from bench.servers import Deployment, Server, free_port, raise_open_files, spawn
from bench.stats import Latency, Stream, StreamCheck
from bench.workloads import CpuMeter, CpuUse, progress
from bench.workloads.connections import ConnectionsResult, hold_idle
from bench.workloads.edits import DRAIN_TIMEOUT, Subscriber

COMMAND = [sys.executable, "-m", "bench.ceiling"]
START_TIMEOUT = 30.0
ROOM = 1
_READY = Frame(Opcode.TEXT, msgspec.json.encode({"type": "ready"})).serialize(mask=False)


class BareSocket(asyncio.Protocol):
    """One socket of the bare server."""

    def __init__(self, rooms: dict[int, set[BareSocket]]) -> None:
        self._rooms = rooms
        self._room: int | None = None
        self._ws = ServerProtocol()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._ws.receive_data(data)
        for event in self._ws.events_received():
            if isinstance(event, Request):
                self._ws.send_response(self._ws.accept(event))
                self._flush()
                self._transport.write(_READY)
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._on_text(bytes(event.data))
        self._flush()  # pongs, the close handshake

    def connection_lost(self, exc: Exception | None) -> None:
        if self._room is not None:
            self._rooms[self._room].discard(self)

    def _on_text(self, data: bytes) -> None:
        assert self._transport is not None
        message: dict[str, Any] = msgspec.json.decode(data)
        if message.get("type") == "join":
            self._room = int(message["event_id"])
            self._rooms[self._room].add(self)
            joined = {"type": "joined", "event_id": self._room, "version": 0}
            self._transport.write(
                Frame(Opcode.TEXT, msgspec.json.encode(joined)).serialize(mask=False)
            )
            return
        if self._room is None:
            return
        frame = Frame(Opcode.TEXT, data).serialize(mask=False)  # framed once for the room
        for other in self._rooms[self._room]:
            if other is not self and other._transport is not None:
                other._transport.write(frame)

    def _flush(self) -> None:
        assert self._transport is not None
        for data in self._ws.data_to_send():
            if data:
                self._transport.write(data)
            else:
                self._transport.close()


async def serve(port: int) -> None:
    rooms: dict[int, set[BareSocket]] = defaultdict(set)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: BareSocket(rooms), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


async def start(logs: Path) -> Deployment:
    """The bare server in a process of its own, measured like Tandem's (CPU, RSS)."""
    port = free_port()
    command = [*COMMAND, "--port", str(port)]
    os.makedirs(logs, exist_ok=True)
    log = logs / "ceiling.log"
    process = await asyncio.to_thread(spawn, command, dict(os.environ), log)
    deployment = Deployment("bare", [Server("bare", port, command, process, log)], {})
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return deployment
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                await deployment.stop()
                raise RuntimeError(
                    f"the bare server did not start:\n{deployment.servers[0].log_tail()}"
                ) from None
            await asyncio.sleep(0.1)


@dataclass
class FanOutResult:
    subscribers: int
    rate: float
    duration: float
    sent: int
    deliveries: int
    delivery_latency: Latency
    check: StreamCheck
    cpu: CpuUse

    @property
    def deliveries_per_s(self) -> float:
        return self.deliveries / self.duration


async def fan_out(
    deployment: Deployment, *, subscribers: int, rate: float, duration: float
) -> FanOutResult:
    """W2 against the bare server: one paced writer, `subscribers` readers in one room."""
    url = deployment.ws_urls[0]
    latencies: list[float] = []
    readers = [Subscriber(latencies) for _ in range(subscribers)]
    plan = [(url, "bare", ROOM, r.on_message) for r in readers]
    opened = await open_many([(url, "bare", ROOM, lambda _m, _a: None), *plan])
    sockets = [s for s, _ in opened]
    try:
        progress(f"bare server: writing for {duration:.0f} s")
        meter = CpuMeter(deployment)
        began = time.monotonic()
        sent = await _write(sockets[0], began, began + duration, rate)
        elapsed = time.monotonic() - began
        cpu = meter.read()
        await _drain(readers, sent)
    finally:
        await close_all(sockets)
    check = StreamCheck()
    for n, reader in enumerate(readers):
        check.add(f"subscriber {n}", reader.stream or Stream(0), sent)
    return FanOutResult(
        subscribers=subscribers,
        rate=rate,
        duration=elapsed,
        sent=sent,
        deliveries=sum(r.stream.received for r in readers if r.stream is not None),
        delivery_latency=Latency.of(latencies),
        check=check,
        cpu=cpu,
    )


async def _write(writer: Socket, began: float, deadline: float, rate: float) -> int:
    n = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
        n += 1
        value = {"n": n, "sent": time.monotonic()}
        await writer.send(
            {
                "type": "patch",
                "event_id": ROOM,
                "version": n,
                "ops": [{"op": "add", "path": "/metadata/bench", "value": value}],
            }
        )
    return n


async def _drain(readers: list[Subscriber], final: int) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        if all(r.stream is not None and r.stream.version >= final for r in readers):
            return
        await asyncio.sleep(0.05)
    progress(f"bare server: some subscribers still behind after {DRAIN_TIMEOUT:.0f} s")


async def idle(deployment: Deployment, steps: tuple[int, ...]) -> ConnectionsResult:
    """W3 against the bare server: RSS per idle joined socket."""
    return await hold_idle(deployment, ["bare"], [ROOM], steps)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    raise_open_files()
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
