"""Idle sockets (issue 12, W3; realtime/protocols.py, realtime/ws/connection.py): a socket
that has authenticated and joined, then sends nothing, keeps no task and none of its
handshake, and is served in order again as soon as it speaks."""

from __future__ import annotations

import asyncio

import pytest

from realtime.protocols import TandemWebSocketProtocol
from tests.shared_event import SharedEvents
from tests.support import RunningServer, eventually, title_ops
from tests.ws_client import is_type

pytestmark = pytest.mark.timeout(60)


def socket_tasks() -> list[asyncio.Task[object]]:
    """The server's tasks that work for one socket: its ASGI app, its reader, its writer."""
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith(("ws-reader-", "ws-writer-"))
        or getattr(task.get_coro(), "__qualname__", "").endswith("run_asgi")
    ]


async def test_an_idle_joined_socket_keeps_no_task_and_no_handshake(
    server: RunningServer, shared_event: SharedEvents
) -> None:
    """Joined and quiet, a socket has no task, and its protocol no scope and no __dict__."""
    room = await shared_event("editor")
    alice, bob = room.people
    a, b, c = await room.sockets(alice, bob, bob)
    await eventually(lambda: not socket_tasks(), what="no task left for idle sockets")
    wires = [
        wire
        for wire in server.server.server_state.connections
        if isinstance(wire, TandemWebSocketProtocol)
    ]
    assert len(wires) == 3
    for wire in wires:
        assert wire.scope is None and wire.request is None
        assert wire.__dict__ == {}, "an attribute without a slot gives every socket a dict"
    ack = await a.submit(room.id, title_ops("again"))
    assert ack["type"] == "ack"
    for other in (b, c):
        patch = await other.recv_until(is_type("patch", room.id))
        assert patch["version"] == ack["version"]
    assert await c.ping() == []
