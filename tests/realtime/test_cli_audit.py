"""`tandem audit verify` and `tandem audit export` against a database with a real trail."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from storage.database import Database
from tests.processes import TANDEM, base_env, tandem
from tests.support import (
    RunningServer,
    create_event,
    create_events,
    register,
    share,
    title_ops,
)

pytestmark = pytest.mark.timeout(120)


async def make_a_trail(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        alice, bob = await register(client), await register(client)
        event = (await create_event(client, alice))["id"]
        await share(client, alice, event, bob, "editor")
        await client.patch(
            f"/api/v1/events/{event}",
            json=title_ops("edited"),
            headers={**bob.headers, "Content-Type": "application/json-patch+json"},
        )
        await client.delete(f"/api/v1/events/{event}", headers=alice.headers)
        await client.post("/api/v1/auth/login", json={"username": "ghost", "password": "x" * 8})


async def run_sql(database_url: str, statement: str) -> None:
    database = Database(database_url)
    try:
        async with database.write() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await database.close()


async def test_verify_and_export_on_a_real_trail(
    server: RunningServer, database_url: str, tmp_path: Path
) -> None:
    """export writes JSON lines (--since filters); verify exits 0 on an intact trail, then 1
    naming the first record altered by hand, and a chain whose newest record was deleted."""
    await make_a_trail(server)
    env = base_env(DATABASE_URL=database_url, SECRET_KEY="k" * 40)
    everything = tandem("audit", "export", env=env, cwd=tmp_path)
    assert everything.returncode == 0, everything.stderr
    records = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [r["action"] for r in records] == [
        "register",
        "register",
        "event_create",
        "share",
        "event_update",
        "event_delete",
        "login_failed",
    ]
    assert records[-1]["actor"] is None
    since = tandem("audit", "export", "--since", records[3]["at"], env=env, cwd=tmp_path)
    assert [json.loads(line)["seq"] for line in since.stdout.splitlines()] == [
        r["seq"] for r in records[3:]
    ]
    bad = tandem("audit", "export", "--since", "yesterday", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "--since" in bad.stderr

    intact = tandem("audit", "verify", env=env, cwd=tmp_path)
    assert intact.returncode == 0, intact.stderr
    update, later = records[4], records[5]
    # The altered record is named, not the (still intact) one after it in the chain.
    await run_sql(
        database_url, f"UPDATE audit_records SET ip = '10.6.6.6' WHERE seq = {update['seq']}"
    )
    broken = tandem("audit", "verify", env=env, cwd=tmp_path)
    assert broken.returncode == 1
    assert f"record {update['seq']} of chain event:" in broken.stderr
    assert f"record {later['seq']} " not in broken.stderr

    await run_sql(
        database_url, f"UPDATE audit_records SET ip = '127.0.0.1' WHERE seq = {update['seq']}"
    )
    assert tandem("audit", "verify", env=env, cwd=tmp_path).returncode == 0
    await run_sql(
        database_url,
        "DELETE FROM audit_records WHERE seq = (SELECT max(seq) FROM audit_records "
        "WHERE chain LIKE 'user:%')",
    )
    truncated = tandem("audit", "verify", env=env, cwd=tmp_path)
    assert truncated.returncode == 1
    assert "chain user:" in truncated.stderr and "missing" in truncated.stderr


@pytest.mark.parametrize("removed", ["its deletion", "its whole chain"])
async def test_verify_finds_records_removed_from_a_deleted_events_chain(
    server: RunningServer, database_url: str, tmp_path: Path, removed: str
) -> None:
    """A deleted event's chain keeps its head: verify exits 1 naming the chain when its
    event_delete record, or every record of it, is removed by hand."""
    async with httpx.AsyncClient(base_url=server.url) as client:
        alice = await register(client)
        event = (await create_event(client, alice))["id"]
        edited = await client.patch(
            f"/api/v1/events/{event}",
            json=title_ops("edited"),
            headers={**alice.headers, "Content-Type": "application/json-patch+json"},
        )
        assert edited.status_code == 200, edited.text
        deleted = await client.delete(f"/api/v1/events/{event}", headers=alice.headers)
        assert deleted.status_code == 204, deleted.text
    env = base_env(DATABASE_URL=database_url, SECRET_KEY="k" * 40)
    intact = tandem("audit", "verify", env=env, cwd=tmp_path)
    assert intact.returncode == 0, intact.stderr
    tail = " AND action = 'event_delete'" if removed == "its deletion" else ""
    await run_sql(database_url, f"DELETE FROM audit_records WHERE chain = 'event:{event}'{tail}")
    broken = tandem("audit", "verify", env=env, cwd=tmp_path)
    assert broken.returncode == 1, broken.stdout
    assert f"chain event:{event}: its newest record is missing" in broken.stderr


def export_to_a_closed_pipe(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`tandem audit export` writing into a pipe whose reader has already gone."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [*TANDEM, "audit", "export"],
            stdout=writer,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)


async def test_export_into_a_closed_pipe_ends_quietly(
    server: RunningServer, database_url: str, tmp_path: Path
) -> None:
    """`tandem audit export | head`: a reader that has gone is no error (exit 0, nothing on
    stderr), not a traceback calling the database unavailable."""
    await make_a_trail(server)
    env = base_env(DATABASE_URL=database_url, SECRET_KEY="k" * 40)
    export = export_to_a_closed_pipe(env, tmp_path)
    assert (export.returncode, export.stderr) == (0, "")


async def verify_in_background(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """`tandem audit verify` as a child process, without blocking this event loop (the
    test's server runs in it); its exit status and stderr."""
    process = await asyncio.create_subprocess_exec(
        *TANDEM,
        "audit",
        "verify",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_verify_is_clean_while_edits_commit(
    server: RunningServer, database_url: str, tmp_path: Path
) -> None:
    """verify reads the records and the chains' heads in one snapshot: edits committed
    while it reads (a head then names a record it did not read) raise no false alarm."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        alice = await register(client)
        # Thousands of records take verify tens of milliseconds to read and hash, long
        # enough for several edits to commit meanwhile.
        events = await create_events(client, alice, 2000)
        stop = asyncio.Event()

        async def keep_editing() -> int:
            edits = 0
            while not stop.is_set():
                event = events[edits % len(events)]
                edited = await client.patch(
                    f"/api/v1/events/{event}",
                    json=title_ops(f"edit {edits}"),
                    headers={**alice.headers, "Content-Type": "application/json-patch+json"},
                )
                assert edited.status_code == 200, edited.text
                edits += 1
            return edits

        writer = asyncio.create_task(keep_editing())
        try:
            env = base_env(DATABASE_URL=database_url, SECRET_KEY="k" * 40)
            for _ in range(3):
                status, stderr = await verify_in_background(env, tmp_path)
                assert (status, stderr) == (0, "")
        finally:
            stop.set()
            edits = await writer
        assert edits > 0
