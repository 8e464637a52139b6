"""GET /openapi.json and GET /docs: the API's description and an interactive viewer of it.

The viewer is Swagger UI 5 (it renders OpenAPI 3.1), served from the swagger-ui-py
package in site-packages, so the page works offline and loads nothing from a CDN.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from realtime import codec
from realtime.http.openapi import Operation, build_document, describe
from realtime.ops.health import tandem_version
from storage.errors import not_found

# Everything the page needs is same-origin and nothing is inline: the start-up code
# is /docs/assets/start.js. Swagger UI shows its icons as data: images; the styles
# it sets go through the DOM, which style-src does not restrict.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tandem API</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/start.js"></script>
</body>
</html>
"""

START_SCRIPT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""

# Asset name -> (file in swagger-ui-py's static folder, media type).
PACKAGED_ASSETS = {
    "swagger-ui.css": ("swagger-ui.css", "text/css"),
    "swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript"),
    "favicon-32x32.png": ("favicon-32x32.png", "image/png"),
}
ASSET_NAMES = (*PACKAGED_ASSETS, "start.js")
_CACHE = "public, max-age=3600"

INFO = {
    "title": "Tandem",
    "summary": "Real-time collaborative calendar backend",
    "description": (
        "REST for auth, events, sharing and history under /api/v1, and a WebSocket at "
        "/api/v1/ws for live edits (its messages are in PROTOCOL.md). Every JSON body "
        "may also be MessagePack (`application/msgpack`), and `Accept: "
        "application/msgpack` asks for MessagePack answers. Every error answers "
        '`{"error": {"code", "message", "details"}}` with a stable code.'
    ),
}


# Handlers in modules that do not declare their routes themselves.
@describe(
    Operation(
        summary="This document",
        tag="operations",
        responses={200: dict[str, Any]},
        media=(codec.JSON,),
        auth=False,
    )
)
async def openapi_json(request: Request) -> Response:
    state = request.app.state
    # Built once per app: the route table does not change while it serves.
    if getattr(state, "openapi_json", None) is None:
        document = build_document(request.app.routes, info={**INFO, "version": tandem_version()})
        state.openapi_json = codec.encode_json(document)
    return Response(state.openapi_json, media_type=codec.JSON)


@describe(
    Operation(
        summary="Interactive API docs",
        tag="operations",
        responses={200: str},
        media=("text/html",),
        auth=False,
    )
)
async def docs(request: Request) -> Response:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": DOCS_CSP})


@describe(Operation(summary="/docs assets", tag="operations", responses={200: str}, hidden=True))
async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    headers = {"Cache-Control": _CACHE}
    if name == "start.js":
        return Response(START_SCRIPT, media_type="text/javascript", headers=headers)
    if name not in PACKAGED_ASSETS:
        raise not_found(f"asset {name}")
    filename, media_type = PACKAGED_ASSETS[name]
    return FileResponse(_static_folder() / filename, media_type=media_type, headers=headers)


def _static_folder() -> Path:
    # Found without importing swagger_ui, whose package imports jinja2 for nothing we use.
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("/docs needs the swagger-ui-py package (pip install swagger-ui-py)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
    Route("/docs/assets/{name}", docs_asset, methods=["GET"]),
]
