"""/api/v1/auth: register, login, refresh, logout, me."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from auth.service import TokenGrant
from realtime import codec
from realtime.http import api_response, parse_object
from realtime.resources import authenticate, resources, user_json


def grant_json(grant: TokenGrant) -> dict[str, Any]:
    return {
        "user": user_json(grant.user),
        "access_token": grant.access_token,
        "refresh_token": grant.refresh_token,
        "token_type": "bearer",
        "expires_in": grant.expires_in,
    }


async def register(request: Request) -> Response:
    body = await parse_object(request)
    grant = await resources(request).auth.register(
        body.get("username"), body.get("email"), body.get("password")
    )
    return api_response(request, grant_json(grant), 201)


async def login(request: Request) -> Response:
    # Form bodies too, so that OAuth2 password-flow clients (and /docs) can log in.
    body = await parse_object(request, accept=(codec.JSON, codec.MSGPACK, codec.FORM))
    grant = await resources(request).auth.login(body.get("username"), body.get("password"))
    return api_response(request, grant_json(grant))


async def refresh(request: Request) -> Response:
    body = await parse_object(request)
    grant = await resources(request).auth.refresh(body.get("refresh_token"))
    return api_response(request, grant_json(grant))


async def logout(request: Request) -> Response:
    principal = await authenticate(request)
    body = await parse_object(request, required=False)
    await resources(request).auth.logout(principal, body.get("refresh_token"))
    return Response(status_code=204)


async def me(request: Request) -> Response:
    principal = await authenticate(request)
    return api_response(request, user_json(principal.user))


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/me", me, methods=["GET"]),
]
