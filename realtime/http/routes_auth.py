"""/api/v1/auth: register, login, refresh, logout, me."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from auth.service import TokenGrant
from realtime import codec
from realtime.http import wire_models
from realtime.http.bodies import api_response, parse_object
from realtime.http.openapi import Operation, describe
from realtime.services import authenticate, resources, user_json
from storage.errors import ErrorCode

# Form bodies too, so that OAuth2 password-flow clients (and /docs) can log in.
LOGIN_MEDIA = (codec.JSON, codec.MSGPACK, codec.FORM)
# A refresh token that is unknown, expired, or already used (which revokes its session).
REFRESH_ERRORS = (ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED, ErrorCode.TOKEN_REVOKED)


def grant_json(grant: TokenGrant) -> dict[str, Any]:
    return {
        "user": user_json(grant.user),
        "access_token": grant.access_token,
        "refresh_token": grant.refresh_token,
        "token_type": "bearer",
        "expires_in": grant.expires_in,
    }


@describe(
    Operation(
        summary="Register a user",
        tag="auth",
        body=wire_models.RegisterRequest,
        responses={201: wire_models.TokenGrant},
        errors=(ErrorCode.USERNAME_TAKEN, ErrorCode.EMAIL_TAKEN),
        auth=False,
    )
)
async def register(request: Request) -> Response:
    body = await parse_object(request)
    await resources(request).rate_limits.check_sign_in(request, body.get("username"))
    grant = await resources(request).auth.register(
        body.get("username"), body.get("email"), body.get("password")
    )
    return api_response(request, grant_json(grant), 201)


@describe(
    Operation(
        summary="Log in with a username (or email) and password",
        tag="auth",
        body=wire_models.LoginRequest,
        body_media=LOGIN_MEDIA,
        responses={200: wire_models.TokenGrant},
        errors=(ErrorCode.INVALID_CREDENTIALS,),
        auth=False,
    )
)
async def login(request: Request) -> Response:
    body = await parse_object(request, accept=LOGIN_MEDIA)
    await resources(request).rate_limits.check_sign_in(request, body.get("username"))
    grant = await resources(request).auth.login(body.get("username"), body.get("password"))
    return api_response(request, grant_json(grant))


@describe(
    Operation(
        summary="Trade a refresh token for a new token pair",
        tag="auth",
        body=wire_models.RefreshRequest,
        responses={200: wire_models.TokenGrant},
        errors=REFRESH_ERRORS,
        auth=False,
    )
)
async def refresh(request: Request) -> Response:
    body = await parse_object(request)
    grant = await resources(request).auth.refresh(body.get("refresh_token"))
    return api_response(request, grant_json(grant))


@describe(
    Operation(
        summary="Log out: the access token and its refresh token stop working",
        tag="auth",
        body=wire_models.LogoutRequest,
        body_required=False,
        responses={204: None},
    )
)
async def logout(request: Request) -> Response:
    principal = await authenticate(request)
    body = await parse_object(request, required=False)
    await resources(request).auth.logout(principal, body.get("refresh_token"))
    return Response(status_code=204)


@describe(Operation(summary="The caller", tag="auth", responses={200: wire_models.User}))
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
