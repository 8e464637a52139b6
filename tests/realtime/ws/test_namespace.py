"""Deployments that share one Redis stay apart when their broadcast namespaces differ."""

from __future__ import annotations

import dataclasses
import secrets

import httpx
import pytest

from realtime.settings import Settings
from tests.conftest import REDIS_URL, migrated, require_service
from tests.support import create_event, register, start_server, title_ops
from tests.ws_client import Sockets

pytestmark = pytest.mark.timeout(60)


async def test_same_event_id_in_two_namespaces_does_not_cross(
    settings: Settings, tmp_path, sockets: Sockets
) -> None:
    """An edit of event 1 in one deployment never reaches event 1's room in another."""
    await require_service("redis")
    other_url = await migrated(f"sqlite:///{tmp_path / 'other.db'}")
    # Namespaces of this run only: the Redis is shared with other tests and other runs.
    run = secrets.token_hex(4)
    first = dataclasses.replace(
        settings, broadcast_url=REDIS_URL, broadcast_namespace=f"ns-one-{run}"
    )
    second = dataclasses.replace(first, database_url=other_url, broadcast_namespace=f"ns-two-{run}")
    servers = [await start_server(first), await start_server(second)]
    try:
        events = []
        for server in servers:
            async with httpx.AsyncClient(base_url=server.url) as http:
                account = await register(http)
                event = await create_event(http, account)
                events.append((account, event["id"]))
        assert events[0][1] == events[1][1]  # both deployments have this event id
        watcher = await sockets.joined(servers[0].ws_url, events[0][0].access_token, events[0][1])
        writer = await sockets.joined(servers[1].ws_url, events[1][0].access_token, events[1][1])
        ack = await writer.submit(events[1][1], title_ops("elsewhere"))
        assert ack["type"] == "ack"
        # An edit at home, published after the foreign one: had the foreign
        # version 2 crossed over, it would have reached the watcher first.
        async with httpx.AsyncClient(base_url=servers[0].url) as http:
            response = await http.put(
                f"/api/v1/events/{events[0][1]}",
                json={"title": "at home"},
                headers=events[0][0].headers,
            )
            assert response.status_code == 200
        patch = await watcher.recv_until(lambda m: m.get("type") == "patch")
        assert patch["version"] == 2
        assert patch["ops"] == title_ops("at home")
    finally:
        await sockets.close_all()
        for server in servers:
            await server.stop()
