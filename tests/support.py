"""Helpers shared by the tests: a real server per test, clients, deadlines."""

from __future__ import annotations

import asyncio
import secrets
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from realtime.app import create_app
from realtime.server import TandemServer, uvicorn_config
from realtime.settings import Settings

T = TypeVar("T")

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"

# For the test clients' `verify`: httpx loads the CA bundle anew for each client (20-40 ms
# of CPU) unless given a context, though the tests speak plain HTTP to 127.0.0.1.
TLS = ssl.create_default_context()

# A test registers many users from one address; the rate-limit tests set their own.
UNLIMITED = "1000000/second"


def server_settings(**fields: Any) -> Settings:
    """Settings for a test server: the test key, memory broadcast, limits out of the way."""
    defaults: dict[str, Any] = {
        "broadcast_url": "memory://",
        "secret_key": TEST_SECRET,
        "auth_rate_per_ip": UNLIMITED,
        "auth_rate_per_username": UNLIMITED,
        "api_rate_per_user": UNLIMITED,
    }
    return Settings(**{**defaults, **fields})


@dataclass
class RunningServer:
    url: str
    settings: Settings
    server: TandemServer
    task: asyncio.Task[None]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/v1/ws"

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 15)


async def start_server(settings: Settings) -> RunningServer:
    """The real app under uvicorn on a free loopback port, in this event loop."""
    # IPPROTO_TCP as getaddrinfo gives it to uvicorn's own bind: asyncio turns Nagle off
    # (TCP_NODELAY) only on sockets that say so, and with Nagle on, a second small frame
    # written before the client acknowledged the first waits for its delayed ACK (40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn_config(
        create_app(settings),
        settings,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    server = TandemServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started or task.done(), timeout=15)
    if task.done():
        task.result()  # raises what went wrong at start-up
    return RunningServer(f"http://127.0.0.1:{port}", settings, server, task)


def distributed_settings(database_url: str, broadcast_url: str, **fields: Any) -> Settings:
    """Settings for servers sharing one database and broadcast, on channels of their
    own, so that another run on the same Redis cannot interfere."""
    return server_settings(
        database_url=database_url,
        broadcast_url=broadcast_url,
        broadcast_namespace=f"test-{secrets.token_hex(4)}",
        **fields,
    )


async def start_pair(settings: Settings) -> list[RunningServer]:
    """Two servers of one deployment, as two processes would be."""
    first = await start_server(settings)
    try:
        return [first, await start_server(settings)]
    except BaseException:
        await first.stop()
        raise


async def eventually(
    condition: Callable[[], Any | Awaitable[Any]],
    timeout: float = 10,
    interval: float = 0.01,
    *,
    what: str = "condition",
) -> Any:
    """Wait until `condition()` (sync or async) is truthy and answer its value; fail after
    `timeout` seconds, naming `what` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(interval)


@dataclass
class Account:
    id: int
    username: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


_counter = 0


async def register(client: httpx.AsyncClient, username: str | None = None) -> Account:
    """A new user, registered through the API."""
    global _counter
    _counter += 1
    username = username or f"user{_counter}"
    password = f"pw-{username}-secret"
    response = await client.post(
        "/api/v1/auth/register",
        json={"username": username, "email": f"{username}@example.com", "password": password},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(
        body["user"]["id"], username, password, body["access_token"], body["refresh_token"]
    )


def error_code(response: httpx.Response) -> str:
    """The `code` of a contract error answer."""
    return response.json()["error"]["code"]


def event_doc(**fields: Any) -> dict[str, Any]:
    """A valid event document, with `fields` replacing the defaults."""
    doc: dict[str, Any] = {
        "title": "Design review",
        "start_time": "2026-03-02T08:00:00Z",
        "end_time": "2026-03-02T09:00:00Z",
        "timezone": "Europe/Paris",
    }
    doc.update(fields)
    return doc


async def create_event(
    client: httpx.AsyncClient, account: Account, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/events", json=event_doc(**fields), headers=account.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def create_mornings(
    client: httpx.AsyncClient, account: Account, days: list[str]
) -> list[dict[str, Any]]:
    """A one-hour event at 09:00 UTC on each of `days` (YYYY-MM-DD), in that order."""
    return [
        await create_event(
            client, account, start_time=f"{day}T09:00:00Z", end_time=f"{day}T10:00:00Z"
        )
        for day in days
    ]


async def share(
    client: httpx.AsyncClient, owner: Account, event_id: int, user: Account, role: str
) -> None:
    response = await client.post(
        f"/api/v1/events/{event_id}/share",
        json={"users": [{"user_id": user.id, "role": role}]},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text


async def login(client: httpx.AsyncClient, account: Account) -> Account:
    """A second login session of the same user (its own token pair)."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": account.username, "password": account.password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Account(
        account.id, account.username, account.password, body["access_token"], body["refresh_token"]
    )


async def create_events(client: httpx.AsyncClient, account: Account, count: int) -> list[int]:
    """`count` events through POST /events/batch (at most 500 per call); answers their ids."""
    ids: list[int] = []
    while len(ids) < count:
        size = min(500, count - len(ids))
        items = [event_doc(title=f"batch {len(ids) + i}") for i in range(size)]
        response = await client.post(
            "/api/v1/events/batch", json={"events": items}, headers=account.headers
        )
        assert response.status_code == 201, response.text
        ids.extend(item["id"] for item in response.json()["items"])
    return ids


def title_ops(value: str) -> list[dict[str, Any]]:
    """A patch that sets the title."""
    return [{"op": "replace", "path": "/title", "value": value}]


async def set_role(
    client: httpx.AsyncClient, owner: Account, event_id: int, user: Account, role: str
) -> None:
    response = await client.put(
        f"/api/v1/events/{event_id}/permissions/{user.id}",
        json={"role": role},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
