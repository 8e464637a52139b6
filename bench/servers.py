"""Tandem servers for the benchmark: real `tandem serve` processes, started and stopped here.

Embedded: one process on a fresh SQLite file with in-process broadcast. Distributed:
`tandem migrate` once, then two processes on one PostgreSQL database and one Redis
(with a namespace of their own, so they never hear anyone else on that Redis).
Every rate limit is lifted: the benchmark measures the server, not its limiter.
"""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TANDEM = [sys.executable, "-m", "realtime.cli"]
UNLIMITED = "1000000/second"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def raise_open_files() -> int:
    """Lift this process's soft RLIMIT_NOFILE to the hard one (10,000 sockets need it)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def server_env(database_url: str, broadcast_url: str, namespace: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "BROADCAST_URL": broadcast_url,
        "BROADCAST_NAMESPACE": namespace,
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(32),
        # Long enough for the whole run: a socket must not be closed by its token expiring.
        "ACCESS_TOKEN_TTL": "7200",
        "LOG_LEVEL": "warning",
        "AUTH_RATE_PER_IP": UNLIMITED,
        "AUTH_RATE_PER_USERNAME": UNLIMITED,
        "API_RATE_PER_USER": UNLIMITED,
        "WS_OP_RATE": UNLIMITED,
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class Server:
    name: str
    port: int
    command: list[str]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    def rss(self) -> int:
        """Resident memory in bytes."""
        fields = Path(f"/proc/{self.process.pid}/statm").read_text().split()
        return int(fields[1]) * _PAGE

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Deployment:
    mode: str  # "embedded" or "distributed"
    servers: list[Server]
    env: dict[str, str] = field(repr=False)

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def ws_urls(self) -> list[str]:
        return [s.ws_url for s in self.servers]

    def rss(self) -> int:
        return sum(s.rss() for s in self.servers)

    def cpu_seconds(self) -> float:
        return sum(s.cpu_seconds() for s in self.servers)

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(_stop, s) for s in self.servers))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def migrate(env: dict[str, str]) -> None:
    """`tandem migrate` once, before any server of a shared database starts."""
    process = await asyncio.create_subprocess_exec(
        *TANDEM, "migrate", env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"tandem migrate failed:\n{output.decode(errors='replace')}")


async def start(
    mode: str,
    database_url: str,
    broadcast_url: str,
    count: int,
    logs: Path,
    *,
    profile: Path | None = None,
) -> Deployment:
    """`count` servers on one database and broadcast, each answering /health.

    With `profile`, the first server runs under pyinstrument and saves its session
    there when it stops.
    """
    env = server_env(database_url, broadcast_url, f"bench-{secrets.token_hex(6)}")
    if not database_url.startswith("sqlite"):
        await migrate(env)
    os.makedirs(logs, exist_ok=True)
    servers: list[Server] = []
    try:
        for n in range(count):
            port = free_port()
            command = [*TANDEM, "serve", "--port", str(port)]
            if profile is not None and n == 0:
                command = [
                    sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(profile),
                    "-m", "realtime.cli", "serve", "--port", str(port),
                ]  # fmt: skip
            log = logs / f"{mode}-{n + 1}.log"
            process = await asyncio.to_thread(spawn, command, env, log)
            servers.append(Server(f"{mode}-{n + 1}", port, command, process, log))
        await asyncio.gather(*(_wait_healthy(s) for s in servers))
    except BaseException:
        await Deployment(mode, servers, env).stop()
        raise
    return Deployment(mode, servers, env)


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_open_files,  # inherited by nothing else: only these servers
            start_new_session=True,  # a Ctrl-C of the run reaches them through stop() only
        )


async def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
                )
            try:
                if (await http.get(server.url + "/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} not healthy in {START_TIMEOUT:.0f} s")
            await asyncio.sleep(0.1)


def _stop(server: Server) -> None:
    """SIGINT first (a graceful stop, which also lets pyinstrument save), then SIGKILL."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
