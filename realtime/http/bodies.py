"""Reading request bodies and writing answers, in JSON or MessagePack."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from realtime import codec
from storage.errors import ErrorCode, TandemError, validation_error


def api_response(
    request: Request,
    data: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """`data` encoded as the client asked: MessagePack when Accept prefers it, else JSON."""
    if codec.wants_msgpack(request.headers.get("accept")):
        return Response(codec.encode_msgpack(data), status, headers, media_type=codec.MSGPACK)
    return Response(codec.encode_json(data), status, headers, media_type=codec.JSON)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


# What `parse_body` answers for an empty body the route does not require: not None,
# which is what a body of JSON `null` (or MessagePack nil) decodes to.
NO_BODY: Any = object()


async def parse_body(
    request: Request,
    *,
    accept: tuple[str, ...] = (codec.JSON, codec.MSGPACK),
    required: bool = True,
) -> Any:
    """The decoded body; NO_BODY when it is empty and not `required`.

    415 for a content type the route does not take, 400 for bytes that do not
    parse (or nest deeper than MAX_NESTING_DEPTH), 413 over the size limit.
    """
    settings = request.app.state.tandem.settings
    body = await read_body(request, settings.max_body_bytes)
    if not body and not required:
        return NO_BODY  # left out, as it may be: whatever its type, nothing to refuse
    # The type before the emptiness of a body the route requires: a client sending the
    # wrong type hears which it should send (PATCH with none, or text/plain, is 415).
    kind = codec.media_type(request.headers.get("content-type")) or codec.JSON
    if kind not in accept:
        raise TandemError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"this route takes {', '.join(accept)}, not {kind}",
            {"accepted": list(accept)},
        )
    if not body:
        raise TandemError(ErrorCode.MALFORMED_REQUEST, "a request body is required")
    max_depth = settings.max_nesting_depth
    try:
        if kind == codec.MSGPACK:
            value = codec.decode_msgpack(body, max_depth)
        elif kind == codec.FORM:
            value = dict(parse_qsl(body.decode("utf-8", errors="strict"), keep_blank_values=True))
        else:
            value = codec.decode_json(body, max_depth)
    except (codec.DecodeError, UnicodeDecodeError) as exc:
        raise TandemError(ErrorCode.MALFORMED_REQUEST, str(exc)) from None
    try:
        codec.refuse_nul(value, body if kind not in (codec.MSGPACK, codec.FORM) else None)
    except codec.NulError as exc:
        raise validation_error({exc.pointer.lstrip("/") or "body": codec.NUL_REFUSED}) from None
    return value


async def parse_object(request: Request, **options: Any) -> dict[str, Any]:
    """The body, which must be an object (an empty optional body is `{}`; a body of
    null is no object, refused like `[]`)."""
    value = await parse_body(request, **options)
    if value is NO_BODY:
        return {}
    if not isinstance(value, dict):
        raise validation_error({"body": "must be an object"}, "the body must be an object")
    return value


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TandemError(ErrorCode.UNAUTHENTICATED, "send Authorization: Bearer <access_token>")
    return token.strip()


def _too_large(limit: int) -> TandemError:
    return TandemError(
        ErrorCode.TOO_LARGE, f"the request body is over {limit} bytes", {"limit": limit}
    )
