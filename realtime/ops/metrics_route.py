"""GET /metrics: Prometheus text, summed over every worker process."""

from __future__ import annotations

import hmac
import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from realtime.http.openapi import Operation, describe
from realtime.ops.metrics import MULTIPROCESS_DIR_VARIABLE
from realtime.services import resources
from storage.errors import ErrorCode, TandemError


@describe(
    Operation(
        summary="Prometheus metrics",
        tag="operations",
        description="Bearer METRICS_TOKEN when the server has one.",
        responses={200: str},
        media=("text/plain",),
        errors=(ErrorCode.UNAUTHENTICATED,),
        auth=False,
    )
)
async def metrics(request: Request) -> Response:
    token = resources(request).settings.metrics_token
    presented = request.headers.get("authorization", "").encode()
    if token and not hmac.compare_digest(presented, f"Bearer {token}".encode()):
        raise TandemError(ErrorCode.UNAUTHENTICATED, "send Authorization: Bearer <METRICS_TOKEN>")
    registry = REGISTRY
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
