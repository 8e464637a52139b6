"""/api/v1/sync: a client's copy of its calendar, listed once, then kept up to date."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime.http import conditional, wire_models, wire_models_v11
from realtime.http.openapi import IF_NONE_MATCH, Operation, Param, describe
from realtime.http.params import query_int
from realtime.services import authenticate, resources
from storage.errors import ErrorCode

MAX_SYNC_PAGE = 1000
DEFAULT_SYNC_PAGE = 500


@describe(
    Operation(
        summary="Every event the caller can see, then what changed since the cursor",
        tag="sync",
        query=(
            Param("cursor", str, "next_cursor of the last page; none for a full listing"),
            Param("limit", wire_models.SyncPageSize),
        ),
        headers=(IF_NONE_MATCH,),
        responses={200: wire_models_v11.SyncPage, 304: None},
        errors=(ErrorCode.CURSOR_EXPIRED,),
        etag=True,
    )
)
async def sync(request: Request) -> Response:
    principal = await authenticate(request)
    limit = query_int(request, "limit", DEFAULT_SYNC_PAGE, 1, MAX_SYNC_PAGE)
    cursor = request.query_params.get("cursor") or None
    page = await resources(request).sync.page(principal.user.id, cursor, limit)
    body = {"items": page.items, "next_cursor": page.next_cursor, "has_more": page.has_more}
    return conditional.page_response(request, body)


routes = [Route("/sync", sync, methods=["GET"])]
