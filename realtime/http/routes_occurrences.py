"""/api/v1/events/{id}/occurrences/{occurrence_id}: one occurrence of a recurring event."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime.http import conditional, wire_models
from realtime.http.bodies import api_response, parse_object
from realtime.http.openapi import IF_MATCH, Operation, describe
from realtime.http.routes_events import edit_response
from realtime.services import authenticate, resources
from realtime.wire import event_json
from storage.errors import ErrorCode

EDIT_ERRORS = (
    ErrorCode.NOT_FOUND,
    ErrorCode.FORBIDDEN,
    ErrorCode.PRECONDITION_FAILED,
    ErrorCode.INVALID_EVENT,
)


@describe(
    Operation(
        summary="Set how one occurrence differs from its series (editor or more)",
        tag="occurrences",
        description="Fields equal to the series' are left out of the override; an "
        "occurrence id that is not an occurrence of the series is 404.",
        body=wire_models.Override,
        headers=(IF_MATCH,),
        responses={200: wire_models.Event},
        errors=EDIT_ERRORS,
        etag=True,
    )
)
async def set_occurrence(request: Request) -> Response:
    principal = await authenticate(request)
    body = await parse_object(request)
    result = await resources(request).calendar.set_occurrence(
        principal.user,
        request.path_params["event_id"],
        request.path_params["occurrence_id"],
        body,
        if_match=conditional.if_match(request),
    )
    return edit_response(request, result)


@describe(
    Operation(
        summary="Cancel one occurrence: an EXDATE, and its override dropped (editor or more)",
        tag="occurrences",
        headers=(IF_MATCH,),
        responses={200: wire_models.Event},
        errors=EDIT_ERRORS,
        etag=True,
    )
)
async def cancel_occurrence(request: Request) -> Response:
    principal = await authenticate(request)
    result = await resources(request).calendar.cancel_occurrence(
        principal.user,
        request.path_params["event_id"],
        request.path_params["occurrence_id"],
        if_match=conditional.if_match(request),
    )
    return edit_response(request, result)


@describe(
    Operation(
        summary='"This and following": end the series before an occurrence, start a new one',
        tag="occurrences",
        description="One transaction: the series gets an UNTIL just before the occurrence, "
        "later overrides and EXDATEs move to a new series owned by the same owner and shared "
        "with the same people, starting at that occurrence with `changes` applied.",
        body=wire_models.SplitRequest,
        headers=(IF_MATCH,),
        responses={201: wire_models.SplitEvents},
        errors=EDIT_ERRORS[:3],
    )
)
async def split_series(request: Request) -> Response:
    principal = await authenticate(request)
    body = await parse_object(request)
    done = await resources(request).calendar.split(
        principal.user,
        request.path_params["event_id"],
        body,
        if_match=conditional.if_match(request),
    )
    role = done.before.role
    answer = {"before": event_json(done.before.event, role), "after": event_json(done.after, role)}
    return api_response(request, answer, 201)


routes = [
    Route("/events/{event_id:id}/split", split_series, methods=["POST"]),
    Route("/events/{event_id:id}/occurrences/{occurrence_id}", set_occurrence, methods=["PUT"]),
    Route(
        "/events/{event_id:id}/occurrences/{occurrence_id}", cancel_occurrence, methods=["DELETE"]
    ),
]
