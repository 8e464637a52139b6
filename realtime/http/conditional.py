"""Conditional reads: ETags and If-None-Match (RFC 9110, section 13.1.2).

An event's ETag is its version, `"<version>"` (strong); a page's (GET /events,
GET /sync) is weak, `W/"<hash of the answer's bytes>"`. If-None-Match compares
weakly, as the RFC says, so `W/"3"` matches `"3"`. A header that is not a list
of entity tags (or `*`) is 422 `validation_error`: a client sending one has a
bug it should hear about, not a silent 200.
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
_ENTITY_TAG = re.compile(r'\s*(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*')


def if_none_match(request: Request) -> list[str] | None:
    """The opaque parts of the tags the client holds; ["*"] for `*`; None without a header."""
    raw = request.headers.get("if-none-match")
    if raw is None:
        return None
    if raw.strip() == "*":
        return ["*"]
    tags = []
    for part in raw.split(","):
        match = _ENTITY_TAG.fullmatch(part)
        if match is None:
            raise validation_error(
                {HEADER: 'must be entity tags such as "3" or W/"a1b2", or *'},
                f"{HEADER} is not an entity tag",
            )
        tags.append(match.group(1))
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
