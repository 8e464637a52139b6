"""JSON and MessagePack bodies: one codec for REST and WebSocket alike."""

from __future__ import annotations

from typing import Any

import msgspec

JSON = "application/json"
MSGPACK = "application/msgpack"
JSON_PATCH = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"

_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()


class DecodeError(ValueError):
    """The bytes are not a document in the announced format."""


def encode_json(value: Any) -> bytes:
    return _json_encoder.encode(value)


def encode_msgpack(value: Any) -> bytes:
    # to_builtins turns datetimes into RFC 3339 strings, as in JSON, instead of
    # MessagePack's timestamp extension, so both formats carry the same values.
    return _msgpack_encoder.encode(msgspec.to_builtins(value))


def decode_json(data: bytes | str) -> Any:
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not valid JSON: {exc}") from None


def decode_msgpack(data: bytes) -> Any:
    try:
        return msgspec.msgpack.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not valid MessagePack: {exc}") from None


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header, lower-cased."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def wants_msgpack(accept: str | None) -> bool:
    """True when the Accept header prefers MessagePack to JSON."""
    if not accept:
        return False
    ranked = []
    for position, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        quality = 1.0
        for param in fields[1:]:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, fields[0].lower()))
    for _, _, kind in sorted(ranked):
        if kind == MSGPACK:
            return True
        if kind in (JSON, "application/*", "*/*"):
            return False
    return False
