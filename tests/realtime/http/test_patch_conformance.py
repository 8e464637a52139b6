"""The public JSON Patch suite, through PATCH /events/{id} on the event's /metadata."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.storage.test_patch_conformance import load_cases, on_metadata, require_suite
from tests.support import create_event, register

pytestmark = pytest.mark.timeout(300)

CASES = [param.values[0] for param in load_cases() if param.values[0] is not None]


async def test_every_object_case_through_rest_patch(client: httpx.AsyncClient) -> None:
    """Each enabled suite case whose doc is an object gives its expected result, or is refused."""
    require_suite()
    alice = await register(client)
    event = await create_event(client, alice)
    url = f"/api/v1/events/{event['id']}"
    headers = {**alice.headers, "Content-Type": "application/json-patch+json"}
    failures: list[str] = []
    for case in CASES:
        reset = await client.put(url, json={"metadata": case["doc"]}, headers=alice.headers)
        assert reset.status_code == 200, reset.text
        before = reset.json()
        ops = [on_metadata(op) for op in case["patch"]]
        response = await client.patch(url, json=ops, headers=headers)
        label = case.get("comment") or case.get("error") or repr(case["patch"])[:60]
        expected: Any = case.get("expected")
        if "expected" in case and ops and isinstance(expected, dict):
            if response.status_code != 200 or response.json()["metadata"] != expected:
                failures.append(f"{label}: {response.status_code} {response.text[:120]}")
            continue
        # An error case, an empty patch (invalid_patch by the contract), or a result
        # that is not an object (metadata must stay one): refused, nothing stored.
        if response.status_code != 422:
            failures.append(f"{label}: expected a refusal, got {response.status_code}")
            continue
        code = response.json()["error"]["code"]
        if code not in ("invalid_patch", "test_failed", "invalid_event"):
            failures.append(f"{label}: unexpected code {code}")
        after = (await client.get(url, headers=alice.headers)).json()
        if after["version"] != before["version"]:
            failures.append(f"{label}: a refused patch changed the event")
    assert not failures, "\n".join(failures)
    assert len(CASES) >= 70
