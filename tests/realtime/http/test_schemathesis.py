"""Schemathesis against a live server: no 5xx, and every answer matches /openapi.json."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import msgspec
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import Account, RunningServer, create_event, register, share

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
# Enough to reach every documented answer of each route; bounded so the run stays short.
EXAMPLES_PER_OPERATION = 20
# A GET without an upgrade is no WebSocket handshake: PROTOCOL.md and the WebSocket
# tests cover it.
NOT_FUZZED = {"/api/v1/ws"}
# Run last, in this order: they delete the seeded events, then revoke the token that
# every other call uses.
LAST = (("DELETE", "/api/v1/events/{event_id}"), ("POST", "/api/v1/auth/logout"))


@schemathesis.serializer("application/msgpack")
def _msgpack(ctx: Any, value: Any) -> bytes:
    try:
        return msgspec.msgpack.encode(value)
    except OverflowError:
        # Integers past 64 bits have no MessagePack form: no client can send this.
        hypothesis.reject()


def fuzz(base_url: str, token: str, mode: GenerationMode) -> list[str]:
    """Every documented operation, EXAMPLES_PER_OPERATION cases each; the failures found."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=_position)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    for operation in operations:
        if operation.path not in NOT_FUZZED:
            failures += _fuzz_operation(operation, headers, mode)
    return failures


def _position(operation: Any) -> int:
    key = (operation.method.upper(), operation.path)
    return LAST.index(key) + 1 if key in LAST else 0


def _fuzz_operation(operation: Any, headers: dict[str, str], mode: GenerationMode) -> list[str]:
    found: dict[str, str] = {}

    # Failures are gathered rather than raised: no shrinking, and one run reports
    # every broken route at once.
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def run(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=10)
        except (AssertionError, BaseExceptionGroup) as exc:
            title = str(exc).splitlines()[0]
            found.setdefault(title, f"{operation.label}: {exc}\n  {case.as_curl_command(headers)}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing to break: in negative mode, a route without parameters or body.
        assert mode is GenerationMode.NEGATIVE
    return list(found.values())


async def seed(client: httpx.AsyncClient) -> Account:
    """A user with a few events, one shared and edited, so that some generated ids exist."""
    owner, friend = await register(client), await register(client)
    for index in range(3):
        event = await create_event(client, owner, title=f"seed {index}")
    await share(client, owner, event["id"], friend, "editor")
    response = await client.put(
        f"/api/v1/events/{event['id']}", json={"title": "edited"}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return owner


# Valid requests on both databases; invalid ones (refused before any query) on one.
@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("database_url", "mode"),
    [
        ("sqlite", GenerationMode.POSITIVE),
        ("postgres", GenerationMode.POSITIVE),
        ("sqlite", GenerationMode.NEGATIVE),
    ],
    indirect=["database_url"],
)
async def test_every_answer_matches_the_document(
    server: RunningServer, client: httpx.AsyncClient, mode: GenerationMode
) -> None:
    """Generated requests to every route get no 5xx, and each answer's status, content type
    and body are the ones /openapi.json documents."""
    owner = await seed(client)
    # Schemathesis is synchronous: it runs in a thread while this loop serves.
    failures = await asyncio.to_thread(fuzz, server.url, owner.access_token, mode)
    assert not failures, "\n\n".join(failures)
