"""/api/v1/events/{id}: share, permissions, role changes and revocation."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime.http import wire_models
from realtime.http.bodies import api_response, parse_object
from realtime.http.openapi import Operation, describe
from realtime.services import authenticate, resources
from realtime.usecases.calendar import Grant
from realtime.wire import permission_json
from storage.errors import ErrorCode, validation_error
from storage.permissions import Permission
from storage.records import MAX_ID

SHAREABLE = ("editor", "viewer")
SETTABLE = ("owner", "editor", "viewer")


def _grants(body: dict[str, Any]) -> list[Grant]:
    users = body.get("users")
    if not isinstance(users, list) or not users:
        raise validation_error({"users": "must be a non-empty list of {user_id or username, role}"})
    grants, problems = [], {}
    for index, item in enumerate(users):
        if not isinstance(item, dict):
            problems[f"users.{index}"] = "must be an object"
            continue
        user_id, username, role = item.get("user_id"), item.get("username"), item.get("role")
        if role not in SHAREABLE:
            problems[f"users.{index}.role"] = "must be editor or viewer"
        if isinstance(user_id, int) and not isinstance(user_id, bool) and 0 <= user_id <= MAX_ID:
            grants.append(Grant(user_id, None, str(role)))
        elif isinstance(username, str) and username:
            grants.append(Grant(None, username, str(role)))
        else:
            problems[f"users.{index}"] = "needs a user_id (integer) or a username"
    if problems:
        raise validation_error(problems)
    return grants


def _permissions_response(request: Request, found: list[Permission]) -> Response:
    return api_response(request, {"items": [permission_json(p) for p in found]})


@describe(
    Operation(
        summary="Share an event as editor or viewer (owner)",
        tag="sharing",
        body=wire_models.ShareRequest,
        responses={200: wire_models.Permissions},
        errors=(ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN),
    )
)
async def share(request: Request) -> Response:
    principal = await authenticate(request)
    event_id = request.path_params["event_id"]
    body = await parse_object(request)
    found = await resources(request).calendar.share(principal.user, event_id, _grants(body))
    return _permissions_response(request, found)


@describe(
    Operation(
        summary="Everyone with access to an event (viewer or more)",
        tag="sharing",
        responses={200: wire_models.Permissions},
        errors=(ErrorCode.NOT_FOUND,),
    )
)
async def get_permissions(request: Request) -> Response:
    principal = await authenticate(request)
    found = await resources(request).reads.permissions(
        principal.user, request.path_params["event_id"]
    )
    return _permissions_response(request, found)


@describe(
    Operation(
        summary="Change a user's role; owner transfers ownership (owner)",
        tag="sharing",
        body=wire_models.RoleChange,
        responses={200: wire_models.Permissions},
        errors=(ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN),
    )
)
async def set_role(request: Request) -> Response:
    principal = await authenticate(request)
    event_id = request.path_params["event_id"]
    body = await parse_object(request)
    role = body.get("role")
    if role not in SETTABLE:
        raise validation_error({"role": "must be owner, editor or viewer"})
    found = await resources(request).calendar.set_role(
        principal.user, event_id, request.path_params["user_id"], role
    )
    return _permissions_response(request, found)


@describe(
    Operation(
        summary="Remove a user's access (owner, or the user itself)",
        tag="sharing",
        responses={204: None},
        errors=(ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN),
    )
)
async def revoke(request: Request) -> Response:
    principal = await authenticate(request)
    await resources(request).calendar.revoke(
        principal.user, request.path_params["event_id"], request.path_params["user_id"]
    )
    return Response(status_code=204)


routes = [
    Route("/events/{event_id:id}/share", share, methods=["POST"]),
    Route("/events/{event_id:id}/permissions", get_permissions, methods=["GET"]),
    Route("/events/{event_id:id}/permissions/{user_id:id}", set_role, methods=["PUT"]),
    Route("/events/{event_id:id}/permissions/{user_id:id}", revoke, methods=["DELETE"]),
]
