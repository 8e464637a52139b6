"""A throwaway PostgreSQL cluster on a free port, for tests that stop and restart it.

Never point fault tests at the shared PostgreSQL: other tests (and people) use it.
PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to the
`postgres` system user that Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.realtime.redis_server import free_port


def _bin_directory() -> Path | None:
    """Debian keeps initdb and pg_ctl out of PATH, under /usr/lib/postgresql/<major>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def available() -> str | None:
    """None when a private cluster can be made here, else why not."""
    if _bin_directory() is None:
        return "PostgreSQL's server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to own a cluster"
    return None


class PostgresServer:
    """`start()`, `stop()`, `restart()` on the same port; `url` stays valid."""

    def __init__(self, port: int | None = None) -> None:
        problem = available()
        if problem is not None:
            raise RuntimeError(problem)
        self._bin = _bin_directory()
        self.port = port or free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._dir = tempfile.TemporaryDirectory(prefix="tandem-pg-")
        self._data = Path(self._dir.name) / "data"
        self._log = str(Path(self._dir.name) / "server.log")
        self._owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self._owner is not None:
            os.chown(self._dir.name, self._owner.pw_uid, self._owner.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self._data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        # fsync off: the cluster is thrown away, and speed keeps the test short.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self._dir.name} -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        # With a log file, the server keeps none of our pipes open after pg_ctl returns.
        self._run(
            "pg_ctl",
            "-D",
            str(self._data),
            "-l",
            self._log,
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once, as an operator's restart does."""
        self._run("pg_ctl", "-D", str(self._data), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def close(self) -> None:
        if (self._data / "postmaster.pid").exists():
            self.stop("immediate")
        self._dir.cleanup()

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        if self._owner is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=60, cwd=self._dir.name
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.strip() or done.stdout.strip()}")
