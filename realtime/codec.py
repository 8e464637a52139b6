"""JSON and MessagePack bodies: one codec for REST and WebSocket alike."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import msgspec

from storage.patching import escape

JSON = "application/json"
MSGPACK = "application/msgpack"
JSON_PATCH = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"

_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()
_json_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_msgpack_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder()
# What counts as a level of nesting.
_NESTING = (dict, list, msgspec.Struct)


class DecodeError(ValueError):
    """The bytes are not a document in the announced format."""


class TooDeep(DecodeError):
    """Objects and arrays nest deeper than the server takes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"objects and arrays may nest at most {limit} levels deep")


# What a field holding U+0000 is told, REST and WebSocket alike.
NUL_REFUSED = "must not contain U+0000 (NUL): it cannot be stored"


class NulError(ValueError):
    """A string holds U+0000, which PostgreSQL cannot store in text or jsonb.

    Refused as it arrives, on SQLite too, so that both databases answer alike.
    """

    def __init__(self, pointer: str) -> None:
        super().__init__(f"{pointer or 'the value'} {NUL_REFUSED}")
        self.pointer = pointer


def refuse_nul(value: Any, json_bytes: bytes | None = None) -> None:
    """Raise NulError at the first string or key of `value` holding U+0000.

    Given the JSON it was decoded from, most values are cleared by one look at the
    bytes: JSON can only carry U+0000 as the escape `\\u0000`.
    """
    if json_bytes is not None and b"\\u0000" not in json_bytes:
        return
    pointer = _nul_pointer(value, "")
    if pointer is not None:
        raise NulError(pointer)


def _nul_pointer(value: Any, pointer: str) -> str | None:
    if isinstance(value, str):
        return pointer if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{pointer}/{escape(str(key))}"
            if isinstance(key, str) and "\x00" in key:
                return inner
            found = _nul_pointer(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_pointer(item, f"{pointer}/{index}")
            if found is not None:
                return found
    return None


def encode_json(value: Any) -> bytes:
    return _json_encoder.encode(value)


def encode_msgpack(value: Any) -> bytes:
    # to_builtins turns datetimes into RFC 3339 strings, as in JSON, instead of
    # MessagePack's timestamp extension, so both formats carry the same values.
    return _msgpack_encoder.encode(msgspec.to_builtins(value))


def decode_json(data: bytes | str, max_depth: int | None = None) -> Any:
    """JSON; what a client sent is decoded with its `max_depth`."""
    try:
        return decode_client(data, _json_decoder, max_depth)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not valid JSON: {exc}") from None


def decode_msgpack(data: bytes, max_depth: int | None = None) -> Any:
    """MessagePack; what a client sent is decoded with its `max_depth`."""
    try:
        return decode_client(data, _msgpack_decoder, max_depth)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not valid MessagePack: {exc}") from None


def decode_client(data: bytes | str, decoder: Any, max_depth: int | None) -> Any:
    """`data` decoded by a msgspec `decoder` (whose own errors pass through).

    msgspec recurses while it decodes, so input nested near Python's recursion
    limit raises RecursionError inside it, and a MessagePack string that is not
    UTF-8 raises UnicodeDecodeError: both are malformed input (DecodeError), as is
    anything that decodes but nests deeper than `max_depth`.
    """
    try:
        value = decoder.decode(data)
    except RecursionError:
        raise TooDeep(max_depth or sys.getrecursionlimit()) from None
    except UnicodeDecodeError as exc:
        raise DecodeError(f"a string is not UTF-8: {exc.reason}") from None
    if max_depth is not None:
        check_depth(value, max_depth)
    return value


def check_depth(value: Any, limit: int) -> None:
    """Raise TooDeep when objects and arrays (and structs) nest past `limit` levels.

    Iterative, so that it is safe on whatever the decoder produced.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise TooDeep(limit)
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        elif isinstance(item, msgspec.Struct):
            children = (getattr(item, field) for field in item.__struct_fields__)
        else:
            continue  # a scalar at the top: nothing nests
        stack.extend((child, depth + 1) for child in children if isinstance(child, _NESTING))


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
