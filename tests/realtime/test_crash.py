"""A server process killed (-9) in the middle of acknowledged writes: clients move to
the other process and resubmit what was not acknowledged, by op_id, and the history
holds every op exactly once."""

from __future__ import annotations

import asyncio
import signal
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.processes import serving
from tests.support import Account, create_event, eventually, register
from tests.ws_client import Sockets, WSClient

pytestmark = pytest.mark.timeout(120)

WRITERS = 4
OPS_PER_WRITER = 30
KILL_AFTER_ACKS = 30


@dataclass
class Writer:
    """One client's ops on its own metadata key, so concurrent edits rebase."""

    name: str
    acked: dict[str, int] = field(default_factory=dict)  # op_id -> version
    resubmitted: int = 0

    def ops(self, n: int) -> list[dict[str, object]]:
        return [{"op": "add", "path": f"/metadata/{self.name}", "value": n}]


async def write_all(
    writer: Writer,
    urls: list[str],
    owner: Account,
    event_id: int,
    sockets: Sockets,
    total_acks: list[int],
) -> None:
    """Send OPS_PER_WRITER ops; after losing the connection, reconnect to the next
    URL and resend the op in flight with its op_id, as a client must."""
    url_index = 0
    ws: WSClient = await sockets.joined(urls[url_index], owner.access_token, event_id)
    n = 0
    while n < OPS_PER_WRITER:
        op_id = f"{writer.name}-{n}"
        try:
            await ws.patch(event_id, writer.ops(n), op_id=op_id)
            reply = await ws.reply_to(op_id, timeout=30)
        except (AssertionError, ConnectionClosed):
            if not ws.closed.is_set():
                raise  # a real failure, not the process dying under us
            url_index = 1
            ws = await sockets.joined(urls[url_index], owner.access_token, event_id)
            writer.resubmitted += 1
            continue
        assert reply["type"] == "ack", reply
        writer.acked[op_id] = reply["version"]
        total_acks[0] += 1
        n += 1


async def history_op_ids(http: httpx.AsyncClient, owner: Account, event_id: int) -> list[str]:
    """The op_id of every version (oldest first), through the paged history."""
    found: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = await http.get(
            f"/api/v1/events/{event_id}/history", params=params, headers=owner.headers
        )
        assert page.status_code == 200, page.text
        body = page.json()
        found.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    versions = sorted(found, key=lambda row: int(str(row["version"])))
    assert [row["version"] for row in versions] == list(range(1, len(versions) + 1))
    return [str(row["op_id"]) for row in versions if row["op_id"] is not None]


async def test_kill_9_loses_no_acked_op_and_applies_none_twice(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    """SIGKILL one of two processes while four clients write through it: each client
    resubmits its unacknowledged op on the other process, and the history ends with
    every op exactly once, every ack at the version it named."""
    with ExitStack() as stack:
        doomed = stack.enter_context(serving(distributed_env, tmp_path))
        survivor = stack.enter_context(serving(distributed_env, tmp_path))
        async with httpx.AsyncClient(base_url=survivor.url, timeout=30) as http:
            owner = await register(http)
            event_id = (await create_event(http, owner))["id"]
            writers = [Writer(f"w{i}") for i in range(WRITERS)]
            total_acks = [0]
            sockets = Sockets()
            urls = [doomed.ws_url, survivor.ws_url]

            async def kill_midway() -> None:
                await eventually(lambda: total_acks[0] >= KILL_AFTER_ACKS, 60, 0.005)
                doomed.process.send_signal(signal.SIGKILL)

            try:
                await asyncio.gather(
                    kill_midway(),
                    *(write_all(w, urls, owner, event_id, sockets, total_acks) for w in writers),
                )
            finally:
                await sockets.close_all()
            op_ids = await history_op_ids(http, owner, event_id)
    expected = {f"{w.name}-{n}" for w in writers for n in range(OPS_PER_WRITER)}
    assert sorted(op_ids) == sorted(expected), "an op is missing or was applied twice"
    assert doomed.process.returncode == -signal.SIGKILL
    assert sum(w.resubmitted for w in writers) >= 1, "no write was in flight at the kill"
    # Each ack named the version that really holds the op.
    position = {op_id: index + 2 for index, op_id in enumerate(op_ids)}  # v1 is the create
    for writer in writers:
        for op_id, version in writer.acked.items():
            assert position[op_id] == version, (op_id, version)
