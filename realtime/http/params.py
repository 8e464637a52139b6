"""Query parameters and conditional headers, refused in the contract's shape."""

from __future__ import annotations

from datetime import datetime, timedelta

from starlette.requests import Request

from realtime import codec
from storage.document import parse_time
from storage.errors import TandemError, validation_error
from storage.records import MAX_ID

# The widest window a listing or conflict search takes: ten years, past any calendar
# view; a wider one is a client asking for everything, which listing without one does.
MAX_WINDOW = timedelta(days=3653)


def query_text(request: Request, name: str) -> str | None:
    """A free-text parameter; None when absent or empty."""
    raw = request.query_params.get(name) or None
    if raw is not None and "\x00" in raw:
        raise validation_error({name: codec.NUL_REFUSED})
    return raw


def query_time(request: Request, name: str, *, required: bool = False) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if required:
            raise validation_error({name: "is required"})
        return None
    value = parse_time(raw)
    if value is None:
        raise validation_error({name: "must be an RFC 3339 time with an offset"})
    return value


def query_window(
    request: Request, *, required: bool = False
) -> tuple[datetime | None, datetime | None]:
    problems: dict[str, str] = {}
    found: dict[str, datetime | None] = {}
    for name in ("start", "end"):
        try:
            found[name] = query_time(request, name, required=required)
        except TandemError as exc:
            problems.update(exc.details["fields"])
    if problems:
        raise validation_error(problems)
    start, end = found["start"], found["end"]
    if start is not None and end is not None:
        if end <= start:
            raise validation_error({"end": "must be after start"})
        if end - start > MAX_WINDOW:
            raise validation_error({"end": f"at most {MAX_WINDOW.days} days after start"})
    return start, end


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error({name: f"must be an integer from {low} to {high}"}) from None
    if not low <= value <= high:
        raise validation_error({name: f"must be an integer from {low} to {high}"})
    return value


def query_bool(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise validation_error({name: "must be true or false"})
    return raw in ("true", "1")


def query_cursor_version(request: Request, maximum: int = MAX_ID) -> int | None:
    """History cursors are the last version of the previous page (audit cursors the last
    record's seq, up to `maximum`)."""
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > len(str(maximum)) or int(raw) > maximum:
        raise validation_error({"cursor": "is not a cursor this listing gave out"})
    return int(raw)


def cursor_text(position: int | None) -> str | None:
    """A numeric cursor as the opaque string the contract promises."""
    return None if position is None else str(position)


def on_conflict_reject(request: Request) -> bool:
    value = request.query_params.get("on_conflict")
    if value not in (None, "", "reject", "allow"):
        raise validation_error({"on_conflict": "must be reject or allow"})
    return value == "reject"
