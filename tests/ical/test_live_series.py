"""Two people editing one recurring series live over WebSocket (PROTOCOL.md v1.1)."""

from __future__ import annotations

import httpx
import pytest

from tests.support import RunningServer, create_event, register, share
from tests.ws_client import Sockets, is_type

pytestmark = pytest.mark.timeout(120)

MARCH_16 = "2026-03-16T08:00:00Z"
MOVED = {"start_time": "2026-03-17T12:00:00Z", "end_time": "2026-03-17T13:00:00Z"}


async def test_a_move_and_a_rename_from_one_base_both_land(
    server: RunningServer, client: httpx.AsyncClient, sockets: Sockets
) -> None:
    """One moves an occurrence while the other renames the series, both from version 1:
    the paths are disjoint, so the later patch is rebased; both sockets see both."""
    alice, bob = await register(client), await register(client)
    event = await create_event(client, alice, recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10"])
    await share(client, alice, event["id"], bob, "editor")
    a = await sockets.joined(server.ws_url, alice.access_token, event["id"])
    b = await sockets.joined(server.ws_url, bob.access_token, event["id"])
    move = [{"op": "add", "path": f"/overrides/{MARCH_16}", "value": MOVED}]
    rename = [{"op": "replace", "path": "/title", "value": "Weekly design review"}]
    moved_op = await a.patch(event["id"], move, base_version=1)
    renamed_op = await b.patch(event["id"], rename, base_version=1)
    acks = [await a.reply_to(moved_op), await b.reply_to(renamed_op)]
    assert [ack["type"] for ack in acks] == ["ack", "ack"], acks
    assert sorted(ack["version"] for ack in acks) == [2, 3]
    # Each sees the other's change as a patch, and so every version exactly once.
    seen_by_a = await a.recv_until(is_type("patch", event["id"]))
    seen_by_b = await b.recv_until(is_type("patch", event["id"]))
    assert seen_by_a["ops"] == rename and seen_by_b["ops"] == move
    assert a.versions(event["id"]) == b.versions(event["id"]) == [2, 3]
    week = await client.get(
        "/api/v1/events",
        params={"expand": "true", "start": "2026-03-16T00:00:00Z", "end": "2026-03-23T00:00:00Z"},
        headers=bob.headers,
    )
    assert [
        (i["title"], i["occurrence_id"], i["occurrence_start"]) for i in week.json()["items"]
    ] == [("Weekly design review", MARCH_16, MOVED["start_time"])]
