"""A database that goes away, locks, fills up or turns read-only: 503 `unavailable`,
nothing half-written, no traceback, and service again once it is back."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import migrated
from tests.postgres_server import PostgresServer
from tests.realtime.redis_server import require_services
from tests.support import (
    create_event,
    event_doc,
    eventually,
    register,
    server_settings,
    start_server,
    title_ops,
)

pytestmark = pytest.mark.timeout(90)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"


async def titles(http: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    listed = await http.get("/api/v1/events", params={"limit": 200}, headers=headers)
    assert listed.status_code == 200, listed.text
    return [item["title"] for item in listed.json()["items"]]


async def test_postgres_restart_answers_503_never_500(
    throwaway_postgres: PostgresServer,
) -> None:
    """Requests in flight while PostgreSQL restarts (`pg_ctl restart -m fast`) are
    answered 201 or 503, and every acknowledged create is stored exactly once."""
    running = await start_server(server_settings(database_url=throwaway_postgres.url))
    statuses: list[int] = []
    acknowledged: list[str] = []
    restarted = asyncio.Event()
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            owner = await register(http)

            async def writer(name: str) -> None:
                # Keep writing until the restart is over, then once more.
                n = 0
                while not restarted.is_set() or n == 0:
                    n += 1
                    title = f"{name}-{n}"
                    response = await http.post(
                        "/api/v1/events", json=event_doc(title=title), headers=owner.headers
                    )
                    statuses.append(response.status_code)
                    if response.status_code == 201:
                        acknowledged.append(title)
                    else:
                        assert_unavailable(response)

            async def restart() -> None:
                await eventually(lambda: len(statuses) >= 20)
                await asyncio.to_thread(throwaway_postgres.restart, "fast")
                restarted.set()

            await asyncio.gather(restart(), *(writer(f"w{i}") for i in range(6)))
            stored = await titles_after_recovery(http, owner.headers)
    finally:
        await running.stop()
    assert set(statuses) <= {201, 503}
    assert sorted(t for t in stored if t in acknowledged) == sorted(acknowledged)
    assert len(stored) == len(set(stored)), "a create was stored twice"


async def titles_after_recovery(http: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    """All titles, read once the pool has found its way back to the database."""
    for _ in range(50):
        listed = await http.get("/api/v1/events", params={"limit": 200}, headers=headers)
        if listed.status_code == 200:
            return [item["title"] for item in listed.json()["items"]]
        assert_unavailable(listed)
        await asyncio.sleep(0.1)
    raise AssertionError("the server did not recover after PostgreSQL came back")


async def test_sqlite_locked_by_another_process_is_503(tmp_path: Path) -> None:
    """A writer that cannot get SQLite's lock within SQLITE_BUSY_TIMEOUT answers 503
    and writes nothing; the next write after the lock is released succeeds."""
    path = tmp_path / "tandem.db"
    url = await migrated(f"sqlite:///{path}")
    running = await start_server(server_settings(database_url=url, sqlite_busy_timeout=0.2))
    try:
        async with httpx.AsyncClient(base_url=running.url) as http:
            owner = await register(http)
            other = sqlite3.connect(path, isolation_level=None)  # e.g. the sqlite3 shell
            other.execute("BEGIN IMMEDIATE")
            try:
                response = await http.post(
                    "/api/v1/events", json=event_doc(title="blocked"), headers=owner.headers
                )
                assert_unavailable(response)
            finally:
                other.execute("ROLLBACK")
                other.close()
            assert await titles(http, owner.headers) == []
            created = await http.post("/api/v1/events", json=event_doc(), headers=owner.headers)
            assert created.status_code == 201, created.text
    finally:
        await running.stop()


async def test_an_edit_waits_for_another_process_without_stalling_the_server(
    tmp_path: Path,
) -> None:
    """Edits run on a sqlite3 connection in the event loop's thread (storage/edit_sql.py).
    While another process holds the write lock, an edit must wait for it off that thread:
    reads are answered meanwhile, and the edit lands once the lock is released."""
    path = tmp_path / "tandem.db"
    url = await migrated(f"sqlite:///{path}")
    running = await start_server(server_settings(database_url=url, sqlite_busy_timeout=30))
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=60) as http:
            owner = await register(http)
            event = (await create_event(http, owner))["id"]
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                edit = asyncio.create_task(
                    http.patch(
                        f"/api/v1/events/{event}",
                        json=title_ops("after the lock"),
                        headers={**owner.headers, "Content-Type": "application/json-patch+json"},
                    )
                )
                for _ in range(3):
                    read = await http.get(f"/api/v1/events/{event}", headers=owner.headers)
                    assert read.status_code == 200 and read.json()["version"] == 1
                assert not edit.done()
            finally:
                other.execute("ROLLBACK")
                other.close()
            edited = await edit
            assert edited.status_code == 200, edited.text
            assert edited.json()["version"] == 2
    finally:
        await running.stop()


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for the test: a disk that can fill up or turn read-only."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        reason = "mounting a small filesystem needs root"
        if require_services():
            pytest.fail(reason)
        pytest.skip(reason)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


async def test_sqlite_disk_full_is_503_and_recovers(small_filesystem: Path) -> None:
    """When the disk is full, a write answers 503 with nothing stored; when space is
    freed, writing works again."""
    url = await migrated(f"sqlite:///{small_filesystem / 'tandem.db'}")
    running = await start_server(server_settings(database_url=url))
    filler = small_filesystem / "filler"
    try:
        async with httpx.AsyncClient(base_url=running.url) as http:
            owner = await register(http)
            kept = (await create_event(http, owner, title="kept"))["id"]
            with filler.open("wb") as out:
                try:
                    while True:
                        out.write(b"\0" * 65536)
                        out.flush()
                except OSError:
                    pass  # the disk is full
            big = event_doc(title="too big", description="x" * 10000)
            answers = [
                await http.post("/api/v1/events", json=big, headers=owner.headers)
                for _ in range(20)
            ]
            edits = [
                await http.patch(
                    f"/api/v1/events/{kept}",
                    json=[{"op": "replace", "path": "/description", "value": f"{n}" * 9000}],
                    headers={**owner.headers, "Content-Type": "application/json-patch+json"},
                )
                for n in range(5)
            ]
            for answer in edits:
                if answer.status_code != 200:
                    assert_unavailable(answer)
            assert any(a.status_code == 503 for a in answers), [a.status_code for a in answers]
            for answer in answers:
                if answer.status_code != 201:
                    assert_unavailable(answer)
            stored = len([a for a in answers if a.status_code == 201])
            filler.unlink()
            assert len(await titles(http, owner.headers)) == stored + 1
            # Nothing half-written: the event is at the version the acknowledged edits made.
            edited = len([a for a in edits if a.status_code == 200])
            history = await http.get(f"/api/v1/events/{kept}/history", headers=owner.headers)
            assert len(history.json()["items"]) == 1 + edited
            created = await http.post("/api/v1/events", json=event_doc(), headers=owner.headers)
            assert created.status_code == 201, created.text
    finally:
        await running.stop()


async def test_sqlite_read_only_disk_is_503(small_filesystem: Path) -> None:
    """A database on a filesystem mounted read-only answers writes with 503 and stores
    nothing."""
    path = small_filesystem / "tandem.db"
    settings = server_settings(database_url=await migrated(f"sqlite:///{path}"))
    running = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=running.url) as http:
            owner = await register(http)
    finally:
        await running.stop()
    await remount(small_filesystem, "ro")
    running = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=running.url) as http:
            response = await http.post(
                "/api/v1/events", json=event_doc(title="nowhere"), headers=owner.headers
            )
            assert_unavailable(response)
    finally:
        await running.stop()
    assert _stored_titles(path) == []


async def remount(mount_point: Path, mode: str) -> None:
    process = await asyncio.create_subprocess_exec("mount", "-o", f"remount,{mode}", mount_point)
    assert await process.wait() == 0


def _stored_titles(path: Path) -> list[str]:
    """The titles in the database file, read directly (the server may be unable to)."""
    # immutable: a WAL database on a read-only disk cannot be opened otherwise.
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as db:
        return [row[0] for row in db.execute("SELECT title FROM events")]
