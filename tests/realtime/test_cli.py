"""The `tandem` command: migrate, serve, and how it resolves its secret key."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.timeout(90)


def tandem(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "realtime.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def base_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "SECRET_KEY", "BROADCAST_URL")
    }
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(env: dict[str, str], cwd: Path, port: int) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime.cli", "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert process.stdout is not None
        printed = [process.stdout.readline() for _ in range(5)]
        assert any(url in line for line in printed), printed
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise AssertionError(process.stdout.read())
            time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()


def test_migrate_creates_the_sqlite_schema(tmp_path: Path) -> None:
    """`tandem migrate` creates the schema on a new SQLite file, and is idempotent."""
    env = base_env(DATABASE_URL=f"sqlite:///{tmp_path / 'cal.db'}")
    for _ in range(2):
        result = tandem("migrate", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "cal.db").exists()


def test_postgres_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    """With a PostgreSQL DATABASE_URL and no SECRET_KEY the server will not start."""
    env = base_env(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test")
    result = tandem("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    """A SECRET_KEY under 32 bytes is refused with a clear message."""
    result = tandem("migrate", env=base_env(SECRET_KEY="short"), cwd=tmp_path)
    assert result.returncode == 2
    assert "32 bytes" in result.stderr


def test_embedded_serve_keeps_tokens_across_restarts(tmp_path: Path) -> None:
    """Embedded mode generates a key beside the database, so a token survives a restart."""
    env = base_env()  # every default: ./tandem.db in the working directory
    port = free_port()
    with serving(env, tmp_path, port) as url:
        response = httpx.post(
            f"{url}/api/v1/auth/register",
            json={"username": "restart", "email": "r@example.com", "password": "password1"},
        )
        assert response.status_code == 201
        token = response.json()["access_token"]
    secret = tmp_path / "tandem.secret"
    assert secret.exists()
    assert secret.stat().st_mode & 0o077 == 0
    with serving(env, tmp_path, port) as url:
        me = httpx.get(f"{url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["username"] == "restart"
