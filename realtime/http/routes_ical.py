"""iCalendar (RFC 5545) in and out: one event, the caller's calendar, secret feed URLs
for calendar applications, and import (PROTOCOL.md v1.1, "iCalendar")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime.http import wire_models, wire_models_v11
from realtime.http.bodies import api_response, read_body
from realtime.http.openapi import Operation, Param, describe
from realtime.services import authenticate, resources
from storage.errors import ErrorCode, TandemError, validation_error
from storage.ical_export import MEDIA_TYPE, calendar_bytes, etag_of
from storage.roles import ROLES

ICS = ("text/calendar",)
IF_NONE_MATCH = Param("If-None-Match", str, "the ETag of the copy held: 304 when unchanged")
ROLE = Param("role", wire_models.Role, "only events where the caller has this role")


def _calendar_response(request: Request, body: bytes) -> Response:
    """The file with a strong ETag of its bytes, or 304 when the client holds them."""
    etag = etag_of(body)
    held = [
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("if-none-match", "").split(",")
    ]
    if etag in held or "*" in held:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, 200, {"ETag": etag}, media_type=MEDIA_TYPE)


@describe(
    Operation(
        summary="One event as an iCalendar file (viewer or more)",
        tag="icalendar",
        headers=(IF_NONE_MATCH,),
        responses={200: str, 304: None},
        media=ICS,
        errors=(ErrorCode.NOT_FOUND,),
        etag=True,
    )
)
async def event_ical(request: Request) -> Response:
    principal = await authenticate(request)
    event, _ = await resources(request).reads.event(principal.user, request.path_params["event_id"])
    return _calendar_response(request, calendar_bytes([event]))


@describe(
    Operation(
        summary="Every event the caller can see, as one iCalendar file",
        tag="icalendar",
        query=(ROLE,),
        headers=(IF_NONE_MATCH,),
        responses={200: str, 304: None},
        media=ICS,
        etag=True,
    )
)
async def calendar_ics(request: Request) -> Response:
    principal = await authenticate(request)
    role = request.query_params.get("role")
    if role is not None and role not in ROLES:
        raise validation_error({"role": f"must be one of {', '.join(ROLES)}"})
    body = await resources(request).feeds.calendar(principal.user, role)
    return _calendar_response(request, body)


@describe(
    Operation(
        summary="Import an iCalendar file into the caller's events, all or nothing",
        tag="icalendar",
        description="Each UID becomes one event owned by the caller; a UID the caller "
        "already owns is updated (one version, origin import) or left unchanged. VEVENTs "
        "that cannot be imported are named in details.errors by their index.",
        body=str,
        body_media=ICS,
        responses={200: wire_models_v11.ImportResult},
    )
)
async def import_events(request: Request) -> Response:
    principal = await authenticate(request)
    state = resources(request)
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "text/calendar":
        raise TandemError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "send the file as text/calendar",
            {"accepted": list(ICS)},
        )
    data = await read_body(request, state.settings.max_body_bytes)
    done = await state.calendar.import_calendar(principal.user, data)
    answer = {"created": done.created, "updated": done.updated, "unchanged": done.unchanged}
    return api_response(request, answer)


@describe(
    Operation(
        summary="A secret subscription URL for the caller's calendar",
        tag="icalendar",
        description="The URL is shown only in this answer; it serves what /calendar.ics "
        "would, without a bearer, until the feed is deleted.",
        responses={201: wire_models_v11.NewFeed},
    )
)
async def create_feed(request: Request) -> Response:
    principal = await authenticate(request)
    feed, token = await resources(request).feeds.create(principal.user)
    url = str(request.url.replace(path=f"/ical/{token}.ics", query=""))
    return api_response(request, {"id": feed.id, "url": url, "created_at": feed.created_at}, 201)


@describe(
    Operation(
        summary="The caller's feeds (without their URLs)",
        tag="icalendar",
        responses={200: wire_models_v11.Feeds},
    )
)
async def list_feeds(request: Request) -> Response:
    principal = await authenticate(request)
    found = await resources(request).feeds.list(principal.user)
    items = [
        {"id": f.id, "created_at": f.created_at, "last_used_at": f.last_used_at} for f in found
    ]
    return api_response(request, {"items": items})


@describe(
    Operation(
        summary="Revoke a feed: its URL answers 404 at once",
        tag="icalendar",
        responses={204: None},
        errors=(ErrorCode.NOT_FOUND,),
    )
)
async def delete_feed(request: Request) -> Response:
    principal = await authenticate(request)
    await resources(request).feeds.delete(principal.user, request.path_params["feed_id"])
    return Response(status_code=204)


@describe(
    Operation(
        summary="A feed: the calendar of the user who created it, for calendar applications",
        tag="icalendar",
        headers=(IF_NONE_MATCH,),
        responses={200: str, 304: None},
        media=ICS,
        errors=(ErrorCode.NOT_FOUND, ErrorCode.UNAVAILABLE),
        auth=False,
        etag=True,
    )
)
async def feed_ics(request: Request) -> Response:
    body = await resources(request).feeds.calendar_of_token(request.path_params["token"])
    return _calendar_response(request, body)


routes = [
    Route("/events/import", import_events, methods=["POST"]),
    Route("/events/{event_id:id}/ical", event_ical, methods=["GET"]),
    Route("/calendar.ics", calendar_ics, methods=["GET"]),
    Route("/feeds", create_feed, methods=["POST"]),
    Route("/feeds", list_feeds, methods=["GET"]),
    Route("/feeds/{feed_id:id}", delete_feed, methods=["DELETE"]),
]
# At the root, not under /api/v1: the URL a calendar application subscribes to.
root_routes = [Route("/ical/{token}.ics", feed_ics, methods=["GET"])]
