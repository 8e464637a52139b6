"""GET /metrics (PROTOCOL.md, Operations): Prometheus text counting what the server did."""

from __future__ import annotations

import dataclasses

import httpx
from prometheus_client.parser import text_string_to_metric_families

from realtime.settings import Settings
from tests.support import (
    RunningServer,
    create_event,
    eventually,
    register,
    start_server,
    title_ops,
)
from tests.ws_client import Sockets, is_type


async def scrape(client: httpx.AsyncClient, **kwargs: object) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, keyed by name and sorted labels."""
    response = await client.get("/metrics", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    """HTTP requests are counted per route template and status, never per raw path."""
    account = await register(client)
    before = await scrape(client)
    for missing in (424242, 434343):
        response = await client.get(f"/api/v1/events/{missing}", headers=account.headers)
        assert response.status_code == 404
    after = await scrape(client)
    route = {"method": "GET", "route": "/api/v1/events/{event_id}"}
    counted = value(after, "tandem_http_requests_total", **route, status="404") - value(
        before, "tandem_http_requests_total", **route, status="404"
    )
    assert counted == 2
    # The raw paths never become series of their own.
    assert not any("424242" in str(labels) for _, labels in after)
    assert value(after, "tandem_http_request_duration_seconds_count", **route) >= 2
    assert value(after, "tandem_errors_total", code="not_found", transport="http") >= 2


async def test_edits_sockets_and_rooms_are_counted(
    client: httpx.AsyncClient, sockets: Sockets, server: RunningServer
) -> None:
    """Sockets, rooms, edits and broadcast delay show in /metrics; a closed socket leaves."""
    owner = await register(client)
    event_id = (await create_event(client, owner))["id"]
    before = await scrape(client)
    ws = await sockets.joined(server.ws_url, owner.access_token, event_id)
    during = await scrape(client)
    assert (
        value(during, "tandem_websocket_connections")
        == value(before, "tandem_websocket_connections") + 1
    )
    response = await client.patch(
        f"/api/v1/events/{event_id}",
        json=title_ops("counted"),
        headers={**owner.headers, "Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200
    await ws.recv_until(is_type("patch", event_id))
    after = await scrape(client)
    assert (
        value(after, "tandem_edits_committed_total", origin="rest")
        == value(before, "tandem_edits_committed_total", origin="rest") + 1
    )
    assert value(after, "tandem_broadcast_delay_seconds_count") > value(
        before, "tandem_broadcast_delay_seconds_count"
    )
    assert value(after, "tandem_rooms") >= 1
    await ws.close()

    async def socket_gone() -> bool:
        now = await scrape(client)
        return value(now, "tandem_websocket_connections") == value(
            before, "tandem_websocket_connections"
        )

    await eventually(socket_gone)


async def test_metrics_token_guards_the_endpoint(settings: Settings) -> None:
    """With METRICS_TOKEN set, /metrics answers only that bearer token."""
    running = await start_server(dataclasses.replace(settings, metrics_token="scrape-me"))
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            refused = await client.get("/metrics")
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthenticated"
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            samples = await scrape(client, headers={"Authorization": "Bearer scrape-me"})
            assert any(name == "tandem_http_requests_total" for name, _ in samples)
    finally:
        await running.stop()
