"""JSON columns as text: how the server reads and writes them, on every path.

msgspec reads and writes JSON three to ten times faster than the standard library,
which matters to a listing reading three columns per row and an edit writing five.
What msgspec refuses (a lone surrogate escape) goes the standard library's way, as it
did before msgspec: json.dumps writes it, json.loads reads it.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec


def read_json(text: str) -> Any:
    """A JSON column's value."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def write_json(value: Any) -> str:
    """A JSON column's text (compact, UTF-8; the reader does not mind which spelling)."""
    try:
        return msgspec.json.encode(value).decode()
    except UnicodeEncodeError:
        return json.dumps(value)
