"""Sync cursors: opaque, signed, bound to one user (pure: no I/O).

A cursor says where a client is: still listing (after event `after_event_id`,
with the log position noted before the listing began), or reading changes
after `position`. `floor` is the Unix time before which no change the client
has not read was logged (give or take one transaction's length): a cursor whose
floor is past the retention may have lost changes to pruning, and is refused.

The HMAC keeps clients from making one up or reading another user's log with
it; anything that does not verify is `cursor_expired` (410), the one answer
that tells a client what to do: start again without a cursor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from storage.errors import ErrorCode, TandemError

_FORMAT = "s1"
_SIGNATURE_BYTES = 16


@dataclass(frozen=True)
class SyncCursor:
    user_id: int
    listing: bool
    after_event_id: int
    position: int
    floor: int


class CursorCodec:
    def __init__(self, secret_key: str) -> None:
        # A key of its own, derived from the server's: a cursor is never a token.
        self._key = hashlib.sha256(b"tandem sync cursor\0" + secret_key.encode()).digest()

    def encode(self, cursor: SyncCursor) -> str:
        fields = (
            _FORMAT,
            str(cursor.user_id),
            "L" if cursor.listing else "C",
            str(cursor.after_event_id),
            str(cursor.position),
            str(cursor.floor),
        )
        payload = ".".join(fields).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, text: str, user_id: int) -> SyncCursor:
        """The cursor, if this server issued it to `user_id`; cursor_expired otherwise."""
        payload_text, _, signature_text = text.partition(".")
        try:
            payload, signature = _unb64(payload_text), _unb64(signature_text)
        except (binascii.Error, ValueError):
            raise expired() from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise expired()
        fields = payload.decode().split(".")
        # Signed by us, so well formed; a format of another release is refused.
        if len(fields) != 6 or fields[0] != _FORMAT or int(fields[1]) != user_id:
            raise expired()
        _, _, phase, after, position, floor = fields
        return SyncCursor(user_id, phase == "L", int(after), int(position), int(floor))

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def expired() -> TandemError:
    return TandemError(
        ErrorCode.CURSOR_EXPIRED,
        "this sync cursor is too old or was not issued to you: sync again without a cursor",
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text or not text.isascii():
        raise ValueError("empty")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
