"""A live editor's next patch is written in one statement on what the process's last
edit left (storage.edits.swap_edit, PostgreSQL): whatever changed in between, by
another process, a share, a role change or a resend, the answer is the locking path's.

The same tests run on SQLite, which always takes the locking path: the contract is one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_URL, require_service
from tests.processes import base_env, tandem
from tests.shared_event import SharedEvents
from tests.support import (
    Account,
    create_event,
    distributed_settings,
    register,
    set_role,
    share,
    start_pair,
    title_ops,
)
from tests.ws_client import Sockets

pytestmark = pytest.mark.timeout(120)

EVENTS = "/api/v1/events"


async def history_versions(client: httpx.AsyncClient, account: Account, event_id: int) -> list[int]:
    response = await client.get(f"{EVENTS}/{event_id}/history", headers=account.headers)
    assert response.status_code == 200, response.text
    return sorted(item["version"] for item in response.json()["items"])


def audit_verifies(database_url: str, cwd: Path) -> None:
    env = base_env(DATABASE_URL=database_url, SECRET_KEY="k" * 40)
    verified = tandem("audit", "verify", env=env, cwd=cwd)
    assert verified.returncode == 0, verified.stderr


async def test_shares_and_role_changes_between_patches_are_honoured(
    client: httpx.AsyncClient, shared_event: SharedEvents, database_url: str, tmp_path: Path
) -> None:
    """A share moves the event's audit head but not its version: the next patch is still
    acked and chained after it. A downgrade refuses the next patch; an upgrade allows
    the one after. The audit trail verifies."""
    room = await shared_event("editor")
    (alice, bob), event_id = room.people, room.id
    b = await room.socket(bob)
    for n in range(3):
        assert (await b.submit(event_id, title_ops(f"bob {n}")))["version"] == 2 + n
    carol = await register(client)
    await share(client, alice, event_id, carol, "viewer")
    assert (await b.submit(event_id, title_ops("after the share")))["version"] == 5
    await set_role(client, alice, event_id, bob, "viewer")
    refused = await b.submit(event_id, title_ops("as a viewer"), op_id="b-viewer")
    assert (refused["type"], refused["code"]) == ("error", "forbidden"), refused
    await set_role(client, alice, event_id, bob, "editor")
    assert (await b.submit(event_id, title_ops("editor again")))["version"] == 6
    got = (await client.get(f"{EVENTS}/{event_id}", headers=alice.headers)).json()
    assert (got["version"], got["title"]) == (6, "editor again")
    assert await history_versions(client, alice, event_id) == [1, 2, 3, 4, 5, 6]
    audit_verifies(database_url, tmp_path)


async def test_a_resent_op_is_acked_at_its_version_not_written_again(
    client: httpx.AsyncClient, shared_event: SharedEvents
) -> None:
    """After a run of patches, the last op_id resent (on the version it made, and on the
    one before; with ops that would change the event now) gets its first ack again and
    no new version."""
    room = await shared_event("editor")
    (alice, bob), event_id = room.people, room.id
    b = await room.socket(bob)
    assert (await b.submit(event_id, title_ops("one"), op_id="b-1"))["version"] == 2
    assert (await b.submit(event_id, title_ops("two"), op_id="b-2"))["version"] == 3
    for base in (3, 2):
        again = await b.submit(event_id, title_ops("resent"), base_version=base, op_id="b-2")
        assert (again["type"], again["version"]) == ("ack", 3), again
    assert (await b.submit(event_id, title_ops("three"), op_id="b-3"))["version"] == 4
    assert await history_versions(client, alice, event_id) == [1, 2, 3, 4]


async def test_one_editor_alternating_between_two_processes(
    shared_postgres: str, tmp_path: Path
) -> None:
    """Each process's memory of the event goes stale at every other patch: every patch
    is still acked at the next version, in one history, with an intact audit trail."""
    await require_service("redis")
    servers = await start_pair(distributed_settings(shared_postgres, REDIS_URL))
    pool = Sockets()
    try:
        async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as http:
            owner = await register(http)
            event_id = (await create_event(http, owner, title="ping-pong"))["id"]
            sockets = [await pool.joined(s.ws_url, owner.access_token, event_id) for s in servers]
            for n in range(12):
                writer = sockets[(n // 2) % 2]  # two patches on each process in turn
                await writer.caught_up(event_id, 1 + n)
                ack = await writer.submit(event_id, title_ops(f"patch {n}"))
                assert (ack["type"], ack["version"]) == ("ack", 2 + n), ack
            assert await history_versions(http, owner, event_id) == list(range(1, 14))
        audit_verifies(shared_postgres, tmp_path)
    finally:
        await pool.close_all()
        await asyncio.gather(*(s.stop() for s in servers))
