"""/api/v1/events: create, batch, list, conflicts, read, update, patch, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime import codec
from realtime.http import conditional, wire_models
from realtime.http.bodies import api_response, parse_body, parse_object
from realtime.http.openapi import (
    IF_MATCH,
    IF_NONE_MATCH,
    LIMIT,
    ON_CONFLICT,
    Operation,
    Param,
    describe,
)
from realtime.http.params import (
    on_conflict_reject,
    query_bool,
    query_int,
    query_text,
    query_time,
    query_window,
)
from realtime.services import authenticate, resources
from realtime.wire import event_json, occurrence_json
from storage import events as event_store
from storage.edits import EditResult
from storage.errors import ErrorCode, validation_error
from storage.records import EventRecord
from storage.roles import ROLES

# The contract's two: a plain application/json body is not a JSON Patch document.
PATCH_MEDIA = (codec.JSON_PATCH, codec.MSGPACK)
START = Param("start", wire_models.Time, "only events with an occurrence ending after this")
END = Param("end", wire_models.Time, "only events with an occurrence starting before this")
READ_ERRORS = (ErrorCode.NOT_FOUND,)
EDIT_ERRORS = (ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN, ErrorCode.PRECONDITION_FAILED)


def _event_response(request: Request, event: EventRecord, role: str, status: int = 200) -> Response:
    return api_response(request, event_json(event, role), status, {"ETag": f'"{event.version}"'})


def edit_response(request: Request, result: EditResult) -> Response:
    """An edited event, with its ETag (also the occurrence routes' answer)."""
    return _event_response(request, result.event, result.role)


@describe(
    Operation(
        summary="Create an event; the caller owns it",
        tag="events",
        body=wire_models.NewEvent,
        query=(ON_CONFLICT,),
        responses={201: wire_models.Event},
        errors=(ErrorCode.SCHEDULE_CONFLICT,),
        etag=True,
    )
)
async def create_event(request: Request) -> Response:
    principal = await authenticate(request)
    body = await parse_object(request)
    event = await resources(request).calendar.create(
        principal.user, body, reject_conflicts=on_conflict_reject(request)
    )
    return _event_response(request, event, "owner", 201)


@describe(
    Operation(
        summary="Create up to 500 events, all or nothing",
        tag="events",
        body=wire_models.NewEvents,
        responses={201: wire_models.CreatedEvents},
    )
)
async def create_batch(request: Request) -> Response:
    principal = await authenticate(request)
    body = await parse_object(request)
    created = await resources(request).calendar.create_batch(principal.user, body.get("events"))
    items = [event_json(event, "owner") for event in created]
    return api_response(request, {"items": items}, 201)


@describe(
    Operation(
        summary="The events the caller can see, by id (by occurrence with expand=true)",
        tag="events",
        query=(
            START,
            END,
            Param("q", str, "text in the title, description or location"),
            Param("role", wire_models.Role, "only events where the caller has this role"),
            LIMIT,
            Param("cursor", str, "next_cursor of the last page"),
            Param("expand", bool, "one item per occurrence in start..end (both needed)"),
        ),
        headers=(IF_NONE_MATCH,),
        responses={200: wire_models.EventPage, 304: None},
        etag=True,
    )
)
async def list_events(request: Request) -> Response:
    principal = await authenticate(request)
    start, end = query_window(request)
    role = request.query_params.get("role")
    if role is not None and role not in ROLES:
        raise validation_error({"role": f"must be one of {', '.join(ROLES)}"})
    query = event_store.EventQuery(
        user_id=principal.user.id,
        start=start,
        end=end,
        text=query_text(request, "q"),
        role=role,
        limit=query_int(request, "limit", 50, 1, 200),
        cursor=request.query_params.get("cursor") or None,
    )
    reads = resources(request).reads
    if query_bool(request, "expand"):
        if start is None or end is None:
            raise validation_error({"expand": "needs start and end"})
        found, cursor = await reads.occurrences(query)
        items = [occurrence_json(o) for o in found]
    else:
        page, cursor = await reads.events(query)
        items = [event_json(event, role) for event, role in page]
    return conditional.page_response(request, {"items": items, "next_cursor": cursor})


@describe(
    Operation(
        summary="Every overlapping pair of occurrences in the caller's calendar",
        tag="events",
        query=(
            Param("start", wire_models.Time, required=True),
            Param("end", wire_models.Time, required=True),
        ),
        responses={200: wire_models.Conflicts},
    )
)
async def list_conflicts(request: Request) -> Response:
    principal = await authenticate(request)
    start, end = query_window(request, required=True)
    assert start is not None and end is not None
    pairs = await resources(request).reads.conflicts(principal.user, start, end)
    return api_response(request, {"items": pairs})


@describe(
    Operation(
        summary="One event (viewer or more)",
        tag="events",
        query=(Param("as_of", wire_models.Time, "the event as it stood at this time"),),
        headers=(IF_NONE_MATCH,),
        responses={200: wire_models.Event, 304: None},
        errors=READ_ERRORS,
        etag=True,
    )
)
async def get_event(request: Request) -> Response:
    principal = await authenticate(request)
    as_of = query_time(request, "as_of")
    held = conditional.if_none_match(request)
    event, role = await resources(request).reads.event(
        principal.user, request.path_params["event_id"], as_of
    )
    response = _event_response(request, event, role)
    # An answer about the past is not the current version, whatever its number.
    return conditional.answer(response, f'"{event.version}"', None if as_of else held)


@describe(
    Operation(
        summary="Change any subset of the document's fields (editor or more)",
        tag="events",
        body=wire_models.EventChanges,
        query=(ON_CONFLICT,),
        headers=(IF_MATCH,),
        responses={200: wire_models.Event},
        errors=(*EDIT_ERRORS, ErrorCode.SCHEDULE_CONFLICT),
        etag=True,
    )
)
async def update_event(request: Request) -> Response:
    principal = await authenticate(request)
    body = await parse_object(request)
    result = await resources(request).calendar.update(
        principal.user,
        request.path_params["event_id"],
        body,
        if_match=conditional.if_match(request),
        reject_conflicts=on_conflict_reject(request),
    )
    return edit_response(request, result)


@describe(
    Operation(
        summary="Apply an RFC 6902 JSON Patch to the document (editor or more)",
        tag="events",
        body=wire_models.Patch,
        body_media=PATCH_MEDIA,
        headers=(IF_MATCH,),
        responses={200: wire_models.Event},
        errors=(
            *EDIT_ERRORS,
            ErrorCode.INVALID_PATCH,
            ErrorCode.INVALID_EVENT,
            ErrorCode.TEST_FAILED,
        ),
        etag=True,
    )
)
async def patch_event(request: Request) -> Response:
    principal = await authenticate(request)
    ops = await parse_body(request, accept=PATCH_MEDIA)
    result = await resources(request).calendar.patch(
        principal.user, request.path_params["event_id"], ops, if_match=conditional.if_match(request)
    )
    return edit_response(request, result)


@describe(
    Operation(
        summary="Delete an event (owner)",
        tag="events",
        responses={204: None},
        errors=(ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN),
    )
)
async def delete_event(request: Request) -> Response:
    principal = await authenticate(request)
    await resources(request).calendar.delete(principal.user, request.path_params["event_id"])
    return Response(status_code=204)


routes = [
    Route("/events", create_event, methods=["POST"]),
    Route("/events", list_events, methods=["GET"]),
    Route("/events/batch", create_batch, methods=["POST"]),
    Route("/events/conflicts", list_conflicts, methods=["GET"]),
    Route("/events/{event_id:id}", get_event, methods=["GET"]),
    Route("/events/{event_id:id}", update_event, methods=["PUT"]),
    Route("/events/{event_id:id}", patch_event, methods=["PATCH"]),
    Route("/events/{event_id:id}", delete_event, methods=["DELETE"]),
]
