"""The docker-compose topology without Docker: `tandem serve` processes on PostgreSQL and
Redis, as an operator runs them. Live edits cross processes, logs are JSON lines that
carry request ids, /metrics adds up worker processes, and SIGTERM says 1001 to sockets."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect as ws_connect

from tests.processes import Served, serving
from tests.support import (
    Account,
    create_event,
    eventually,
    register,
    title_ops,
)
from tests.ws_client import Message, Predicate, Sockets, is_type

pytestmark = pytest.mark.timeout(120)


def json_lines(served: Served) -> list[dict]:
    """Everything the process logged; each line must be one JSON object."""
    return [json.loads(line) for line in served.logged if line.strip()]


@dataclass
class Pair:
    """Two `tandem serve` processes of one deployment, and an event of `owner`."""

    first: Served
    second: Served
    owner: Account
    event_id: int
    sockets: Sockets


@asynccontextmanager
async def two_processes(env: dict[str, str], cwd: Path) -> AsyncIterator[Pair]:
    with ExitStack() as stack:
        first = stack.enter_context(serving(env, cwd))
        second = stack.enter_context(serving(env, cwd))
        async with httpx.AsyncClient(base_url=first.url) as client:
            owner = await register(client)
            event_id = (await create_event(client, owner))["id"]
        pair = Pair(first, second, owner, event_id, Sockets())
        try:
            yield pair
        finally:
            await pair.sockets.close_all()


async def test_two_processes_share_edits_and_log_json(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    """An edit on one process reaches a socket on the other; both log JSON with request ids."""
    async with two_processes(distributed_env, tmp_path) as pair:
        first, second, owner, event_id = pair.first, pair.second, pair.owner, pair.event_id
        watcher = await pair.sockets.joined(second.ws_url, owner.access_token, event_id)
        async with httpx.AsyncClient(base_url=first.url) as client:
            response = await client.patch(
                f"/api/v1/events/{event_id}",
                json=title_ops("from the first process"),
                headers={
                    **owner.headers,
                    "Content-Type": "application/json-patch+json",
                    "X-Request-ID": "trace-42",
                },
            )
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == "trace-42"
        patch = await watcher.recv_until(is_type("patch", event_id))
        assert patch["ops"] == title_ops("from the first process")

    # Both processes have stopped: every line they logged is complete JSON.
    access = [entry for entry in json_lines(first) if entry.get("logger") == "tandem.access"]
    traced = [entry for entry in access if entry.get("request_id") == "trace-42"]
    assert len(traced) == 1
    assert traced[0]["route"] == "/api/v1/events/{event_id}"
    assert traced[0]["status"] == 200
    assert traced[0]["method"] == "PATCH"
    assert all(entry["request_id"] for entry in access)
    assert json_lines(second), "the second process logged nothing"
    coloured = [e for e in json_lines(first) if any("\x1b" in str(v) for v in e.values())]
    assert not coloured, "terminal colour codes in the JSON logs"


async def test_sigterm_closes_sockets_with_1001_and_frames_are_not_compressed(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    """SIGTERM closes sockets with 1001, and the server declines permessage-deflate."""
    with serving(distributed_env, tmp_path) as served:
        async with httpx.AsyncClient(base_url=served.url) as client:
            owner = await register(client)
            event_id = (await create_event(client, owner))["id"]
        # A browser offers permessage-deflate; the server declines, so that a frame
        # encoded once for a room is not compressed again for every socket.
        async with ws_connect(served.ws_url, compression="deflate") as offered:
            assert "Sec-WebSocket-Extensions" not in offered.response.headers
        sockets = Sockets()
        try:
            ws = await sockets.joined(served.ws_url, owner.access_token, event_id)
            # uvicorn ends by re-raising the signal it caught, as a well-behaved server does.
            assert await asyncio.to_thread(served.stop) in (0, -signal.SIGTERM)
            await ws.expect_close(1001, timeout=15)
        finally:
            await sockets.close_all()


def health_requests(metrics_text: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if (
                sample.name == "tandem_http_requests_total"
                and sample.labels.get("route") == "/health"
                and sample.labels.get("status") == "200"
            ):
                return sample.value
    return 0.0


async def test_metrics_add_up_every_worker(distributed_env: dict[str, str], tmp_path: Path) -> None:
    """Whichever worker answers /metrics, it counts the requests that all of them served."""
    with serving(distributed_env, tmp_path, workers=2) as served:
        sent = 0

        def workers_seen() -> set[int]:
            return {
                entry["pid"]
                for entry in json_lines(served)
                if entry.get("logger") == "tandem.access" and entry.get("route") == "/health"
            }

        async def one_more_round() -> bool:
            nonlocal sent

            # Fresh connections, several at once, so that both workers accept some.
            async def probe() -> None:
                async with httpx.AsyncClient(base_url=served.url) as client:
                    assert (await client.get("/health")).status_code == 200

            await asyncio.gather(*(probe() for _ in range(8)))
            sent += 8
            return len(workers_seen()) == 2

        # Paced: a worker still starting under a loaded machine can take seconds, and
        # unpaced rounds used up the loopback's ephemeral ports meanwhile.
        await eventually(one_more_round, timeout=60, interval=0.25)
        sent += 1  # wait_healthy's own probe before the test began
        async with httpx.AsyncClient(base_url=served.url) as client:
            for _ in range(4):
                response = await client.get("/metrics")
                assert response.status_code == 200
                assert health_requests(response.text) == sent


def presence_of(part: str, event_id: int, session: str) -> Predicate:
    """A presence delta listing `session` under `part`."""

    def match(message: Message) -> bool:
        return (
            message.get("type") == "presence"
            and message.get("event_id") == event_id
            and any(m.get("session") == session for m in message.get(part) or [])
        )

    return match


async def test_presence_of_a_stopped_process_is_withdrawn_and_restored(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    """A process that stops answering (SIGSTOP, as a hung or partitioned host) without
    saying goodbye: its members leave the presence the other process shows, and come
    back once it answers again (SIGCONT)."""
    env = {**distributed_env, "PRESENCE_HEARTBEAT": "0.2"}
    async with two_processes(env, tmp_path) as pair:
        frozen, token, event_id = pair.first, pair.owner.access_token, pair.event_id
        there = await pair.sockets.joined(frozen.ws_url, token, event_id)
        assert there.ready is not None
        session = there.ready["session"]
        here = await pair.sockets.ready(pair.second.ws_url, token)
        joined = await here.join(event_id)
        if session not in {m["session"] for m in joined["members"]}:
            await here.recv_until(presence_of("joined", event_id, session))

        frozen.process.send_signal(signal.SIGSTOP)
        try:
            await here.recv_until(presence_of("left", event_id, session), timeout=15)
        finally:
            frozen.process.send_signal(signal.SIGCONT)
        await here.recv_until(presence_of("joined", event_id, session), timeout=15)
