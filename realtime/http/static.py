"""The web demo's files, mounted at / beneath every other route (realtime/app.py)."""

from __future__ import annotations

from starlette import staticfiles
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope


class StaticFiles(staticfiles.StaticFiles):
    """Starlette's, but a method other than GET or HEAD is 405 only on a file that
    exists. Starlette refuses the method before it looks, and as this mount takes every
    path no route took, POST /nope and DELETE /api/v2/events/1 were 405, not 404."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] in ("GET", "HEAD"):
            return await super().get_response(path, scope)
        # Looked up as HEAD would be: an HTTPException (404) when nothing is there.
        found = await super().get_response(path, {**scope, "method": "HEAD"})
        if found.status_code == 404:  # html mode's 404.html page: nothing there either
            raise HTTPException(status_code=404)
        raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
