"""Conditional requests: ETags, If-None-Match and If-Match (RFC 9110, section 13.1).

An event's ETag is its version, `"<version>"` (strong); a page's (GET /events,
GET /sync) is weak, `W/"<hash of the answer's bytes>"`. If-None-Match compares
weakly, as the RFC says, so `W/"3"` matches `"3"`. A header that is not a list
of entity tags (or `*`) is 422 `validation_error`: a client sending one has a
bug it should hear about, not a silent 200.

If-Match (on writes) takes a list too, and compares strongly: a weak tag never
matches, so `W/"3"` is 412 even at version 3. A header that names no version (one
that is not entity tags included) matches none: 412 once the event is found, as a
tag we never issued always was.
"""

from __future__ import annotations

import hashlib
import re

from starlette.requests import Request
from starlette.responses import Response

from realtime.http.bodies import api_response
from storage.errors import validation_error

HEADER = "If-None-Match"
# One entity tag: optional W/, then a quoted string of etagc characters.
_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*')
# The opaque part of an event's ETag: a version as str() writes it (strong comparison
# is of the characters, so "01" is not "1"), ten digits at most (MAX_ID's), so that
# int() never meets a number thousands of digits long.
_VERSION = re.compile(r"0|[1-9][0-9]{0,9}")


def if_none_match(request: Request) -> list[str] | None:
    """The opaque parts of the tags the client holds; ["*"] for `*`; None without a header."""
    raw = request.headers.get("if-none-match")
    if raw is None:
        return None
    if raw.strip() == "*":
        return ["*"]
    tags = _entity_tags(raw)
    if tags is None:
        raise validation_error(
            {HEADER: 'must be entity tags such as "3" or W/"a1b2", or *'},
            f"{HEADER} is not an entity tag",
        )
    return [opaque for _, opaque in tags]


def if_match(request: Request) -> frozenset[int] | None:
    """The versions an If-Match header accepts; None without one, or with `*` (any
    version: an event that does not exist is 404 whatever the header says).

    Only strong tags of versions count: an empty set matches no version (412)."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    return frozenset(
        int(opaque)
        for weak, opaque in _entity_tags(raw) or []
        if not weak and _VERSION.fullmatch(opaque)
    )


def _entity_tags(raw: str) -> list[tuple[bool, str]] | None:
    """(weak, opaque part) of each tag of a header's list; None when it is no such list."""
    tags = []
    for part in raw.split(","):
        match = _ENTITY_TAG.fullmatch(part)
        if match is None:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
    return tags


def answer(response: Response, etag: str, held: list[str] | None) -> Response:
    """`response` with its ETag, or 304 Not Modified when the client holds that tag."""
    opaque = etag.removeprefix("W/").strip('"')
    if held is not None and ("*" in held or opaque in held):
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return response


def page_response(request: Request, data: object) -> Response:
    """A listing page with its weak ETag, or 304 when the client already has it."""
    held = if_none_match(request)
    response = api_response(request, data)
    digest = hashlib.sha256(bytes(response.body)).hexdigest()[:32]
    return answer(response, f'W/"{digest}"', held)
