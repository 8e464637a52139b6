"""Running the app under uvicorn, with a shutdown that tells WebSocket clients to come back.

Uvicorn closes open WebSockets with 1012 when it stops; the contract promises
1001 ("server shutting down; reconnect and rejoin with since"), so the server
closes Tandem's sockets itself first.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
from typing import Any

import uvicorn

from realtime.ws.connection import CLOSE_GOING_AWAY

log = logging.getLogger(__name__)

# How long the goodbye frames may take before uvicorn's own shutdown goes on.
GOODBYE_TIMEOUT = 3.0


def _tandem_state(app: Any) -> Any:
    """The Resources of the app under uvicorn's middleware wrappers, if it started."""
    while app is not None:
        state = getattr(getattr(app, "state", None), "tandem", None)
        if state is not None:
            return state
        app = getattr(app, "app", None)
    return None


class TandemServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = _tandem_state(self.config.loaded_app)
        if state is not None:
            await state.hub.say_goodbye(CLOSE_GOING_AWAY, "server shutting down", GOODBYE_TIMEOUT)
        await super().shutdown(sockets)


def run(config: uvicorn.Config, workers: int) -> None:
    """Serve in this process, or in `workers` processes sharing one listening socket."""
    if workers <= 1:
        TandemServer(config).run()
        return
    listener = config.bind_socket()
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_worker, args=(config, listener), name=f"tandem-worker-{n}")
        for n in range(workers)
    ]
    for child in children:
        child.start()

    def stop(signum: int, _frame: Any) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: each worker says goodbye to its sockets

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()


def _worker(config: uvicorn.Config, listener: socket.socket) -> None:
    TandemServer(config).run(sockets=[listener])
