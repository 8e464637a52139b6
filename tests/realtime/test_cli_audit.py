"""`tandem audit verify` and `tandem audit export` against a database with a real trail."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from storage.database import Database
from tests.processes import TANDEM, base_env, tandem
from tests.support import RunningServer, create_event, register, share, title_ops

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
