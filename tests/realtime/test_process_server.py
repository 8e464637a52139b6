"""The server that owns its process (`tandem serve`): start-up is frozen out of the
garbage collector's walks, and it serves as any other."""

from __future__ import annotations

import asyncio
import gc
import socket

import httpx

from realtime.app import create_app
from realtime.server import ProcessServer, uvicorn_config
from tests.support import eventually, server_settings


async def test_what_start_up_made_is_frozen_and_requests_are_served() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = server_settings()
    app = create_app(settings)
    server = ProcessServer(uvicorn_config(app, settings, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done(), timeout=15)
        assert not task.done(), "the server did not start"
        # The app's resources, made by its lifespan at start-up, are out of the young
        # generations' sight: a full collection no longer walks them.
        assert gc.get_freeze_count() > 0
        assert not any(o is app.state.tandem for o in gc.get_objects())
        async with httpx.AsyncClient() as client:
            health = await client.get(f"http://127.0.0.1:{port}/health")
        assert health.status_code == 200
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        gc.unfreeze()  # the rest of the suite's objects are collected as ever
