"""Running the app under uvicorn, with a shutdown that tells WebSocket clients to come back.

Uvicorn closes open WebSockets with 1012 when it stops; the contract promises
1001 ("server shutting down; reconnect and rejoin with since"), so the server
closes Tandem's sockets itself first.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client.multiprocess import mark_process_dead

from realtime.ops.logs import configure_logging
from realtime.ops.metrics import MULTIPROCESS_DIR_VARIABLE
from realtime.protocols import TandemWebSocketProtocol, http_protocol
from realtime.settings import Settings
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
            await state.sockets.say_goodbye(
                CLOSE_GOING_AWAY, "server shutting down", GOODBYE_TIMEOUT
            )
        await super().shutdown(sockets)


class ProcessServer(TandemServer):
    """A server that owns its process (`tandem serve`, each of its workers).

    Once started, what start-up made (modules, the app, its pools) is frozen out of the
    garbage collector's sight: a full collection then walks only what was made since.
    The bench's server spent 86-117 ms in each full collection of about 140,000
    start-up objects, stalling every request in flight (bench/READING.md). The price:
    a start-up object that later ends in a reference cycle (a connection opened at
    start-up and replaced after an outage) is freed only if its count drops to zero.
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        gc.collect()  # start-up's own garbage is freed, not frozen
        gc.freeze()


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn as every Tandem server runs it (`tandem serve` and the tests alike)."""
    return uvicorn.Config(
        app,
        # A protocol factory, which uvicorn calls as it would a protocol class.
        http=http_protocol(settings.http_header_timeout),  # type: ignore[arg-type]
        ws=TandemWebSocketProtocol,
        ws_max_size=settings.ws_max_message_bytes,
        # Frames are encoded once for a whole room; per-socket compression would
        # redo that work for every socket and keep a zlib context in each.
        ws_per_message_deflate=False,
        **options,
    )


def run(config: uvicorn.Config, workers: int) -> None:
    """Serve in this process, or in `workers` processes sharing one listening socket."""
    if workers <= 1:
        ProcessServer(config).run()
        return
    with _metrics_directory():
        _supervise(config, workers)


def _supervise(config: uvicorn.Config, workers: int) -> None:
    listener = config.bind_socket()
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(
            target=_worker,
            args=(config, listener, logging.getLevelName(logging.getLogger().level)),
            name=f"tandem-worker-{n}",
        )
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
        # Its live gauges (open sockets, rooms) no longer count.
        mark_process_dead(child.pid)


@contextmanager
def _metrics_directory() -> Iterator[None]:
    """Where the workers' metrics meet, so that /metrics sums all of them.

    An operator's PROMETHEUS_MULTIPROC_DIR is emptied first (stale files of a
    previous run would be added in); otherwise a temporary one is used.
    """
    configured = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if configured:
        for stale in Path(configured).glob("*.db"):
            stale.unlink()
        yield
        return
    with tempfile.TemporaryDirectory(prefix="tandem-metrics-") as directory:
        os.environ[MULTIPROCESS_DIR_VARIABLE] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIR_VARIABLE]


def _worker(config: uvicorn.Config, listener: socket.socket, log_level: str) -> None:
    configure_logging(log_level)
    ProcessServer(config).run(sockets=[listener])
