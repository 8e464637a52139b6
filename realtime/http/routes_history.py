"""/api/v1/events/{id}: history, one version, diff, changelog and rollback."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime.http import wire_models
from realtime.http.bodies import api_response
from realtime.http.openapi import LIMIT, Operation, Param, describe
from realtime.http.params import cursor_text, query_cursor_version, query_int
from realtime.services import authenticate, resources
from realtime.wire import event_json, version_json
from storage.errors import ErrorCode, validation_error

CURSOR = Param("cursor", wire_models.VersionCursor)


@describe(
    Operation(
        summary="An event's versions, newest first",
        tag="history",
        query=(LIMIT, CURSOR),
        responses={200: wire_models.VersionPage},
        errors=(ErrorCode.NOT_FOUND,),
    )
)
async def list_history(request: Request) -> Response:
    principal = await authenticate(request)
    page, cursor = await resources(request).reads.history(
        principal.user,
        request.path_params["event_id"],
        limit=query_int(request, "limit", 50, 1, 200),
        after=query_cursor_version(request),
    )
    return api_response(
        request, {"items": [version_json(v) for v in page], "next_cursor": cursor_text(cursor)}
    )


@describe(
    Operation(
        summary="One version, with the document as it was then",
        tag="history",
        responses={200: wire_models.VersionWithEvent},
        errors=(ErrorCode.NOT_FOUND,),
    )
)
async def get_version(request: Request) -> Response:
    principal = await authenticate(request)
    authored = await resources(request).reads.version(
        principal.user, request.path_params["event_id"], request.path_params["version"]
    )
    return api_response(request, {**version_json(authored), "event": authored.record.snapshot})


@describe(
    Operation(
        summary="What changed from version v1 to version v2",
        tag="history",
        responses={200: wire_models.Diff},
        errors=(ErrorCode.NOT_FOUND,),
    )
)
async def diff(request: Request) -> Response:
    principal = await authenticate(request)
    path = request.path_params
    event_id, v1, v2 = path["event_id"], path["v1"], path["v2"]
    changes, patch = await resources(request).reads.diff(principal.user, event_id, v1, v2)
    body: dict[str, Any] = {
        "event_id": event_id,
        "from_version": v1,
        "to_version": v2,
        "changes": changes,
        "patch": patch,
    }
    return api_response(request, body)


@describe(
    Operation(
        summary="Human-readable changes, oldest first",
        tag="history",
        query=(LIMIT, CURSOR, Param("order", wire_models.SortOrder, "desc for newest first")),
        responses={200: wire_models.Changelog},
        errors=(ErrorCode.NOT_FOUND,),
    )
)
async def changelog(request: Request) -> Response:
    principal = await authenticate(request)
    order = request.query_params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise validation_error({"order": "must be asc or desc"})
    entries, cursor = await resources(request).reads.changelog(
        principal.user,
        request.path_params["event_id"],
        limit=query_int(request, "limit", 50, 1, 200),
        newest_first=order == "desc",
        after=query_cursor_version(request),
    )
    items = [
        {
            "version": e.version.record.version,
            "author": {"id": e.version.record.author_id, "username": e.version.author_name},
            "at": e.version.record.at,
            "origin": e.version.record.origin,
            "summary": e.summary,
            "changes": e.changes,
        }
        for e in entries
    ]
    return api_response(request, {"items": items, "next_cursor": cursor_text(cursor)})


@describe(
    Operation(
        summary="Make a new version whose document equals an old one's (editor or more)",
        tag="history",
        responses={200: wire_models.Event},
        errors=(ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN),
        etag=True,
    )
)
async def rollback(request: Request) -> Response:
    principal = await authenticate(request)
    result = await resources(request).calendar.rollback(
        principal.user, request.path_params["event_id"], request.path_params["version"]
    )
    response = api_response(request, event_json(result.event, result.role))
    response.headers["ETag"] = f'"{result.event.version}"'
    return response


routes = [
    Route("/events/{event_id:id}/history", list_history, methods=["GET"]),
    Route("/events/{event_id:id}/history/{version:id}", get_version, methods=["GET"]),
    Route("/events/{event_id:id}/diff/{v1:id}/{v2:id}", diff, methods=["GET"]),
    Route("/events/{event_id:id}/changelog", changelog, methods=["GET"]),
    Route("/events/{event_id:id}/rollback/{version:id}", rollback, methods=["POST"]),
]
