"""GET /health: is this process able to serve, and which part is not."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from starlette.requests import Request
from starlette.responses import Response

from realtime.http import wire_models
from realtime.http.bodies import api_response
from realtime.http.openapi import Operation, describe
from realtime.services import resources


def tandem_version() -> str:
    try:
        return package_version("tandem")
    except PackageNotFoundError:
        return "unknown"


@describe(
    Operation(
        summary="Whether this process can serve, and which part cannot",
        tag="operations",
        responses={200: wire_models.Health, 503: wire_models.Health},
        auth=False,
    )
)
async def health(request: Request) -> Response:
    state = resources(request)
    database_ok = await state.database.healthy()
    broadcast_ok = await state.broadcast.healthy()
    body = {
        "status": "ok" if database_ok and broadcast_ok else "unavailable",
        "database": "ok" if database_ok else "unavailable",
        "broadcast": "ok" if broadcast_ok else "unavailable",
        "version": tandem_version(),
    }
    return api_response(request, body, 200 if database_ok and broadcast_ok else 503)
