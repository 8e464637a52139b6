"""WebSocket messages: parsing client frames (pure) and encoding server frames once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from realtime import codec
from realtime.protocols import framed
from storage.errors import ErrorCode, TandemError
from storage.records import MAX_ID

JSON_PROTOCOL = "tandem.v1.json"
MSGPACK_PROTOCOL = "tandem.v1.msgpack"
SUBPROTOCOLS = (JSON_PROTOCOL, MSGPACK_PROTOCOL)

# The contract's limits for one client message and one presence state.
MAX_MESSAGE_BYTES = 64 * 1024
MAX_PRESENCE_BYTES = 1024


# An id or version the database can hold; anything larger is invalid_message.
StoredInt = Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)]


class Auth(msgspec.Struct, tag="auth", tag_field="type", frozen=True):
    token: str


class Join(msgspec.Struct, tag="join", tag_field="type", frozen=True):
    event_id: StoredInt
    since: StoredInt | None = None


class Leave(msgspec.Struct, tag="leave", tag_field="type", frozen=True):
    event_id: StoredInt


class Patch(msgspec.Struct, tag="patch", tag_field="type", frozen=True):
    event_id: StoredInt
    op_id: str
    base_version: StoredInt
    # Any JSON here: a non-array is the patch rules' invalid_patch, not a
    # malformed message, and the op_id check must come first.
    ops: Any


class Presence(msgspec.Struct, tag="presence", tag_field="type", frozen=True):
    event_id: StoredInt
    state: Any


class Ping(msgspec.Struct, tag="ping", tag_field="type", frozen=True):
    pass


ClientMessage = Auth | Join | Leave | Patch | Presence | Ping


def _refuse_extension(code: int, data: memoryview) -> Any:
    """MessagePack extension types carry no JSON value, so no message holds one.

    msgspec would hand them over as Ext objects, which nothing downstream reads
    (msgspec.to_builtins, in the U+0000 check, raises TypeError on them). The timestamp
    type (-1) never comes here: `_refuse_timestamps` finds it.
    """
    raise codec.DecodeError(f"MessagePack extension type {code} is not a JSON value")


def _refuse_timestamps(value: Any) -> None:
    """Refuse MessagePack's timestamp extension (type -1) as `_refuse_extension` refuses
    the others.

    msgspec decodes that type itself, as a datetime, without calling the ext_hook. Left
    in, the frame was refused later or not at all, by whatever rule met it first: a
    patch as invalid_patch, after the op_id check (so a resent op holding one was
    acknowledged), a presence state as invalid_message. Only the `Any` fields (ops,
    state) can hold one: a typed field refuses any extension as it decodes. `value` is
    the message as builtins, with datetimes kept (to_builtins would make them strings).
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, datetime):
            raise codec.DecodeError("MessagePack extension type -1 is not a JSON value")
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_json_decoder = msgspec.json.Decoder(ClientMessage)
_msgpack_decoder = msgspec.msgpack.Decoder(ClientMessage, ext_hook=_refuse_extension)


def parse(frame: str | bytes, binary: bool, max_depth: int) -> ClientMessage:
    """A typed client message, or TandemError invalid_message (too_large for its size).

    `binary` is the connection's subprotocol: MessagePack in binary frames, or
    JSON in text frames; a frame of the other kind is not a message. Objects and
    arrays may nest `max_depth` levels, the message itself being the first.
    """
    data = frame.encode() if isinstance(frame, str) else frame
    if len(data) > MAX_MESSAGE_BYTES:
        raise TandemError(
            ErrorCode.TOO_LARGE, f"a message may be at most {MAX_MESSAGE_BYTES} bytes"
        )
    if binary != isinstance(frame, bytes):
        expected = "binary MessagePack" if binary else "text JSON"
        raise TandemError(ErrorCode.INVALID_MESSAGE, f"this connection takes {expected} frames")
    decoder = _msgpack_decoder if binary else _json_decoder
    try:
        message = codec.decode_client(data, decoder, max_depth)
    except msgspec.ValidationError as exc:
        raise TandemError(ErrorCode.INVALID_MESSAGE, str(exc)) from None
    except codec.DecodeError as exc:
        raise TandemError(ErrorCode.INVALID_MESSAGE, str(exc)) from None
    except msgspec.DecodeError as exc:
        raise TandemError(ErrorCode.INVALID_MESSAGE, f"not a message: {exc}") from None
    if binary:
        value = msgspec.to_builtins(message, builtin_types=(datetime,))
        try:
            _refuse_timestamps(value)
            codec.refuse_nul(value)
        except (codec.DecodeError, codec.NulError) as exc:
            raise TandemError(ErrorCode.INVALID_MESSAGE, str(exc)) from None
    elif b"\\u0000" in data:  # JSON carries U+0000 only escaped
        try:
            codec.refuse_nul(msgspec.to_builtins(message))
        except codec.NulError as exc:
            raise TandemError(ErrorCode.INVALID_MESSAGE, str(exc)) from None
    return message


class _Ids(msgspec.Struct):
    """What an error about a frame names, read leniently: every other field is skipped."""

    type: Any = None
    event_id: Any = None
    op_id: Any = None


_json_ids = msgspec.json.Decoder(_Ids)
_msgpack_ids = msgspec.msgpack.Decoder(_Ids)
# The message types that carry an event_id.
_FOR_AN_EVENT = ("join", "leave", "patch", "presence")


def error_ids(frame: str | bytes, binary: bool) -> dict[str, Any]:
    """The event_id (and a patch's op_id) of a frame `parse` refused, when it reads that far.

    A refused patch is matched to its op by these, as any other error of it is. The
    frame is at most WS_MAX_MESSAGE_BYTES (1 MiB), and the rest of it is skipped, not
    built: 0.5 ms for a whole MiB of JSON, 25 us of MessagePack, less than reading it.
    """
    if binary != isinstance(frame, bytes):
        return {}
    try:
        ids = _msgpack_ids.decode(frame) if isinstance(frame, bytes) else _json_ids.decode(frame)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return {}
    fields: dict[str, Any] = {}
    if ids.type in _FOR_AN_EVENT and type(ids.event_id) is int and 0 <= ids.event_id <= MAX_ID:
        fields["event_id"] = ids.event_id
    if ids.type == "patch" and isinstance(ids.op_id, str):
        fields["op_id"] = ids.op_id
    return fields


def presence_size(state: Any) -> int:
    return len(codec.encode_json(state))


class Frame:
    """One server message, encoded and framed at most once per wire format however
    many sockets get it."""

    __slots__ = ("_binary", "_text", "message")

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message
        self._text: bytes | None = None
        self._binary: bytes | None = None

    def encoded(self, binary: bool) -> bytes:
        """The payload: MessagePack, or JSON as UTF-8."""
        return codec.encode_msgpack(self.message) if binary else codec.encode_json(self.message)

    def framed(self, binary: bool) -> bytes:
        """The whole WebSocket frame, as written to the transport."""
        if binary:
            if self._binary is None:
                self._binary = framed(self.encoded(True), True)
            return self._binary
        if self._text is None:
            self._text = framed(self.encoded(False), False)
        return self._text


def error_message(error: TandemError, **fields: Any) -> dict[str, Any]:
    """The `error` message for `error`; fields that are None are left out."""
    body: dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
    body.update((k, v) for k, v in fields.items() if v is not None)
    return body
