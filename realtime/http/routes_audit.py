"""/api/v1/events/{id}/audit and /api/v1/audit: who did what, from the audit trail."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime.http import wire_models, wire_models_v11
from realtime.http.bodies import api_response
from realtime.http.openapi import LIMIT, Operation, Param, describe
from realtime.http.params import cursor_text, query_cursor_version, query_int
from realtime.services import authenticate, resources
from realtime.wire import audit_record_json
from storage import audit_trail
from storage.audit_trail import AuditRecord
from storage.errors import ErrorCode

CURSOR = Param("cursor", wire_models.AuditCursor)
# seq is a 64-bit column.
MAX_SEQ = 2**63 - 1


def _page(request: Request, records: list[AuditRecord], cursor: int | None) -> Response:
    items = [audit_record_json(record) for record in records]
    return api_response(request, {"items": items, "next_cursor": cursor_text(cursor)})


def _paging(request: Request) -> tuple[int, int]:
    """(the seq to list after, the page size)."""
    after = query_cursor_version(request, MAX_SEQ) or 0
    return after, query_int(request, "limit", 50, 1, 200)


@describe(
    Operation(
        summary="The event's audit trail, oldest first (owner; after deletion, the last owner)",
        tag="audit",
        query=(LIMIT, CURSOR),
        responses={200: wire_models_v11.AuditPage},
        errors=(ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN),
    )
)
async def event_audit(request: Request) -> Response:
    principal = await authenticate(request)
    event_id = request.path_params["event_id"]
    after, limit = _paging(request)
    async with resources(request).database.read() as conn:
        await audit_trail.require_audit_access(conn, event_id, principal.user.id)
        records, cursor = await audit_trail.event_trail(conn, event_id, after, limit)
    return _page(request, records, cursor)


@describe(
    Operation(
        summary="The caller's account records and the records of the caller's actions",
        tag="audit",
        query=(LIMIT, CURSOR),
        responses={200: wire_models_v11.AuditPage},
    )
)
async def my_audit(request: Request) -> Response:
    principal = await authenticate(request)
    after, limit = _paging(request)
    async with resources(request).database.read() as conn:
        records, cursor = await audit_trail.user_trail(conn, principal.user.id, after, limit)
    return _page(request, records, cursor)


routes = [
    Route("/events/{event_id:id}/audit", event_audit, methods=["GET"]),
    Route("/audit", my_audit, methods=["GET"]),
]
