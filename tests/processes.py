"""`tandem` as users run it: a child process per command, its output kept for the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TANDEM = (sys.executable, "-m", "realtime.cli")


def base_env(**extra: str) -> dict[str, str]:
    """This environment without Tandem's settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "SECRET_KEY", "BROADCAST_URL")
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tandem(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TANDEM, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


class Served:
    """A running `tandem serve`: its URL, and what it printed (stdout) and logged (stderr)."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        self.printed: list[str] = []
        self.logged: list[str] = []
        self._readers = [
            threading.Thread(target=self._collect, args=(process.stdout, self.printed)),
            threading.Thread(target=self._collect, args=(process.stderr, self.logged)),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/v1/ws"

    @staticmethod
    def _collect(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line.rstrip("\n"))

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"not serving: {self.printed[-5:]} {self.logged[-5:]}")

    def tracebacks(self) -> list[str]:
        """Logged lines that carry a traceback (JSON logs put it under "exception")."""
        return [line for line in self.logged if "Traceback" in line or '"exception":' in line]

    def stop(self) -> int:
        """SIGTERM, as an orchestrator stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code


@contextmanager
def serving(
    env: dict[str, str], cwd: Path, port: int | None = None, workers: int = 1
) -> Iterator[Served]:
    """`tandem serve` on 127.0.0.1 until the block ends."""
    port = port or free_port()
    process = subprocess.Popen(
        [*TANDEM, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    try:
        served.wait_healthy()
        yield served
    finally:
        served.stop()
    # Only when the test itself passed: its own failure says more.
    assert not served.tracebacks(), f"the server logged a traceback: {served.tracebacks()[:3]}"
