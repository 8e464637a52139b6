"""/openapi.json, generated from the app's own route table and the handlers' declarations.

Every path, method and path parameter comes from the router; each handler carries an
`Operation` (attached with `@describe`) naming its models, parameters and error
codes; each error code's status comes from the one HTTP_STATUS table. A route
without a declaration makes generation fail, so the document cannot silently miss
one. The models are msgspec structs (realtime.http.wire_models); msgspec emits JSON
Schema 2020-12, the dialect of OpenAPI 3.1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

import msgspec
from starlette.convertors import Convertor, IntegerConvertor
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from realtime import codec
from realtime.http import wire_models
from realtime.http.errors import HTTP_STATUS
from storage.errors import ErrorCode

API_PREFIX = "/api/v1"
JSON_AND_MSGPACK = (codec.JSON, codec.MSGPACK)
REF_TEMPLATE = "#/components/schemas/{name}"
BEARER = "bearer"
_ATTRIBUTE = "__openapi__"

Handler = TypeVar("Handler", bound=Callable[..., Any])


@dataclass(frozen=True)
class Param:
    """A query parameter or request header; `schema` is a Python type (msgspec turns it
    into JSON Schema)."""

    name: str
    schema: Any
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """What the router cannot tell about a route: its models, parameters and errors."""

    summary: str
    tag: str
    # Status -> response model; None for an answer without a body.
    responses: Mapping[int, Any]
    body: Any = None
    body_media: tuple[str, ...] = JSON_AND_MSGPACK
    body_required: bool = True
    # The codes this route answers besides those its shape implies (see _implied_errors).
    errors: tuple[ErrorCode, ...] = ()
    query: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()
    auth: bool = True
    etag: bool = False
    media: tuple[str, ...] = JSON_AND_MSGPACK
    description: str = ""
    # Declared, but not part of the API (the /docs page's own assets).
    hidden: bool = False


# Parameters that several routes take.
LIMIT = Param("limit", wire_models.PageSize)
IF_MATCH = Param(
    "If-Match",
    wire_models.ETag,
    "refuse with 412 unless the event is at a version listed (strong tags: W/ never matches)",
)
IF_NONE_MATCH = Param(
    "If-None-Match",
    wire_models.ETag,
    "answer 304 Not Modified when this is still the ETag of the answer",
)
ON_CONFLICT = Param(
    "on_conflict",
    wire_models.ConflictPolicy,
    "reject: refuse with 409 schedule_conflict an event that overlaps one the caller can see",
)


def describe(operation: Operation) -> Callable[[Handler], Handler]:
    """Attach `operation` to a route handler."""

    def attach(handler: Handler) -> Handler:
        setattr(handler, _ATTRIBUTE, operation)
        return handler

    return attach


def declaration(endpoint: Any, path: str) -> Operation:
    found = getattr(endpoint, _ATTRIBUTE, None)
    if not isinstance(found, Operation):
        raise RuntimeError(
            f"route {path} ({getattr(endpoint, '__qualname__', endpoint)!r}) has no OpenAPI "
            "declaration: decorate its handler with realtime.http.openapi.describe(Operation(...))"
        )
    return found


def build_document(
    routes: Sequence[BaseRoute],
    *,
    info: Mapping[str, Any],
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes` (the app's route table, walked recursively)."""
    schemas = _SchemaTable()
    paths: dict[str, dict[str, Any]] = defaultdict(dict)
    operation_ids: set[str] = set()
    for path, methods, route in walk(routes):
        operation = declaration(route.endpoint, path)
        if operation.hidden:
            continue
        name = route.endpoint.__name__
        if name in operation_ids:
            raise RuntimeError(f"two routes have the handler name {name!r}; rename one")
        operation_ids.add(name)
        for method in methods:
            paths[path][method] = _operation(name, path, route, operation, schemas)
    components: dict[str, Any] = schemas.resolve()
    components["ErrorBody"] = _ERROR_BODY
    return {
        "openapi": "3.1.0",
        "info": dict(info),
        "paths": dict(paths),
        "components": {
            "schemas": components,
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "the access_token of POST /api/v1/auth/register or /login",
                }
            },
        },
    }


def walk(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, list[str], Any]]:
    """(OpenAPI path, lower-case methods, route) for every endpoint; HEAD is implied by GET.

    Mounts of routers are entered; mounts of a plain ASGI app (static files) serve
    files, not operations, and are left out.
    """
    for route in routes:
        if isinstance(route, Mount):
            if route.routes:
                yield from walk(route.routes, prefix + route.path)
        elif isinstance(route, WebSocketRoute):
            yield prefix + route.path_format, ["get"], route
        elif isinstance(route, Route):
            methods = sorted(m.lower() for m in route.methods or ["GET"] if m != "HEAD")
            yield prefix + route.path_format, methods, route
        else:
            raise RuntimeError(f"cannot document a route of type {type(route).__name__}")


def _operation(
    name: str, path: str, route: Route | WebSocketRoute, operation: Operation, schemas: _SchemaTable
) -> dict[str, Any]:
    parameters = [
        {
            "name": param,
            "in": "path",
            "required": True,
            "schema": _path_schema(convertor),
        }
        for param, convertor in route.param_convertors.items()
    ]
    for where, declared in (("query", operation.query), ("header", operation.headers)):
        for param in declared:
            entry = {
                "name": param.name,
                "in": where,
                "required": param.required,
                "schema": schemas.of(param.schema),
            }
            if param.description:
                entry["description"] = param.description
            parameters.append(entry)
    document: dict[str, Any] = {
        "operationId": name,
        "summary": operation.summary,
        "tags": [operation.tag],
        "security": [{BEARER: []}] if operation.auth else [],
    }
    if operation.description:
        document["description"] = operation.description
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        body_schema = schemas.of(operation.body)
        document["requestBody"] = {
            "required": operation.body_required,
            "content": {media: {"schema": body_schema} for media in operation.body_media},
        }
    implied = () if isinstance(route, WebSocketRoute) else tuple(_implied_errors(path, operation))
    document["responses"] = _responses(path, operation, implied, schemas)
    return document


def _path_schema(convertor: Convertor[Any]) -> dict[str, Any]:
    declared = getattr(convertor, "json_schema", None)
    if declared is not None:
        return dict(declared)
    if isinstance(convertor, IntegerConvertor):
        return {"type": "integer", "minimum": 0}
    return {"type": "string"}


def _responses(
    path: str, operation: Operation, implied: tuple[ErrorCode, ...], schemas: _SchemaTable
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in operation.responses.items():
        answer: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if model is not None:
            schema = schemas.of(model)
            answer["content"] = {media: {"schema": schema} for media in operation.media}
        if operation.etag and status < 300:
            answer["headers"] = {"ETag": _ETAG}
        responses[str(status)] = answer
    by_status: dict[int, list[ErrorCode]] = defaultdict(list)
    for code in dict.fromkeys((*operation.errors, *implied)):
        by_status[HTTP_STATUS[code]].append(code)
    for status, codes in sorted(by_status.items()):
        if str(status) in responses:
            raise RuntimeError(f"{path}: status {status} is both an answer and an error")
        responses[str(status)] = _error_response(status, codes)
    return dict(sorted(responses.items()))


def _implied_errors(path: str, operation: Operation) -> Iterator[ErrorCode]:
    """The codes that follow from an HTTP route's shape rather than from what it does.

    (A WebSocket answers its errors as messages and close codes, not as HTTP.)
    """
    if operation.body is not None:
        # Bytes that do not parse, too many of them, a content type the route does
        # not take, or a parsed body of the wrong shape.
        yield from (
            ErrorCode.MALFORMED_REQUEST,
            ErrorCode.TOO_LARGE,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        )
        yield ErrorCode.VALIDATION_ERROR
    if operation.query:
        yield ErrorCode.VALIDATION_ERROR
    if operation.auth:
        yield from (ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED, ErrorCode.TOKEN_REVOKED)
    if path.startswith(API_PREFIX + "/"):
        yield from (ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE)


def _error_response(status: int, codes: list[ErrorCode]) -> dict[str, Any]:
    schema = {
        "allOf": [
            {"$ref": REF_TEMPLATE.format(name="ErrorBody")},
            {"properties": {"error": {"properties": {"code": {"enum": codes}}}}},
        ]
    }
    answer: dict[str, Any] = {
        "description": f"{HTTPStatus(status).phrase}: {', '.join(codes)}",
        "content": {media: {"schema": schema} for media in JSON_AND_MSGPACK},
    }
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": _header("always Bearer")}
    if status == 429:
        answer["headers"] = {
            "Retry-After": _header("seconds to wait before trying again", "integer"),
            **{name: _header(why) for name, why in _RATE_LIMIT_HEADERS.items()},
        }
    return answer


def _header(description: str, kind: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


class _SchemaTable:
    """Collects the models of the whole document so that msgspec names each component
    once; `of` hands out a placeholder that `resolve` fills."""

    def __init__(self) -> None:
        self._wanted: list[tuple[Any, dict[str, Any]]] = []

    def of(self, model: Any) -> dict[str, Any]:
        slot: dict[str, Any] = {}
        self._wanted.append((model, slot))
        return slot

    def resolve(self) -> dict[str, Any]:
        found, components = msgspec.json.schema_components(
            [model for model, _ in self._wanted], ref_template=REF_TEMPLATE
        )
        for (_, slot), schema in zip(self._wanted, found, strict=True):
            slot.update(schema)
        return components


_ETAG = _header(
    '"<version>" of the event in this answer (send it back in If-Match or If-None-Match), '
    "or the weak tag of a page (If-None-Match)"
)
_RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "requests allowed in the window",
    "RateLimit-Remaining": "requests left in the window",
    "RateLimit-Reset": "seconds until the window resets",
    "RateLimit-Policy": "the limit and its window, like 100;w=60",
}
_ERROR_BODY = {
    "title": "ErrorBody",
    "description": "Every error answer: a stable machine code, a message and details.",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": sorted(HTTP_STATUS)},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
