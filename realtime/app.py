"""The application factory: routes, error handlers and the lifespan of shared resources."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute

from auth.passwords import Passwords
from auth.service import AuthService
from auth.tokens import TokenCodec
from realtime.broadcast import create_broadcast
from realtime.http import (
    docs,
    routes_audit,
    routes_auth,
    routes_events,
    routes_history,
    routes_ical,
    routes_occurrences,
    routes_sharing,
    routes_sync,
)
from realtime.http.errors import EXCEPTION_HANDLERS
from realtime.http.middleware import RequestEnvelope
from realtime.http.static import StaticFiles
from realtime.ops.health import health
from realtime.ops.metrics_route import metrics
from realtime.ops.rate_limits import RateLimits
from realtime.services import Resources
from realtime.settings import Settings, load_settings
from realtime.usecases.calendar import Calendar
from realtime.usecases.feeds import Feeds
from realtime.usecases.notify import Channels, Notifier
from realtime.usecases.reads import CalendarReads
from realtime.usecases.sync import Sync
from realtime.ws.connection import CLOSE_GOING_AWAY
from realtime.ws.endpoint import websocket_endpoint
from realtime.ws.rooms import Rooms
from realtime.ws.sockets import Sockets
from storage.database import Database

log = logging.getLogger(__name__)

WEB_DEMO = Path(__file__).resolve().parent.parent / "web-demo"


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = Database(settings.database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout)
        broadcast = create_broadcast(settings.broadcast_url)
        await broadcast.connect()
        channels = Channels(settings.broadcast_namespace)
        notifier = Notifier(broadcast, channels)
        auth = AuthService(
            database,
            TokenCodec(settings.secret_key, settings.access_token_ttl, settings.refresh_token_ttl),
            Passwords(),
            on_session_revoked=notifier.session_revoked,
        )
        sockets = Sockets(broadcast, channels, database)
        await sockets.start()
        rooms = Rooms(database, broadcast, channels, settings.presence_heartbeat)
        await rooms.start()
        rate_limits = RateLimits(settings)
        app.state.tandem = Resources(
            settings=settings,
            database=database,
            broadcast=broadcast,
            auth=auth,
            notifier=notifier,
            calendar=Calendar(database, notifier, timedelta(days=settings.conflict_horizon_days)),
            reads=CalendarReads(database),
            feeds=Feeds(database),
            rooms=rooms,
            sockets=sockets,
            rate_limits=rate_limits,
            sync=Sync(database, settings.secret_key, timedelta(seconds=settings.sync_retention)),
        )
        try:
            yield
        finally:
            await sockets.say_goodbye(CLOSE_GOING_AWAY, "server shutting down", timeout=3)
            await rooms.close()
            await sockets.stop()
            await broadcast.disconnect()
            await rate_limits.close()
            await database.close()

    api_routes = [
        *routes_auth.routes,
        *routes_events.routes,
        *routes_occurrences.routes,
        *routes_ical.routes,
        *routes_sharing.routes,
        *routes_history.routes,
        *routes_sync.routes,
        *routes_audit.routes,
        WebSocketRoute("/ws", websocket_endpoint),
    ]
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *docs.routes,
        *routes_ical.root_routes,
        Mount("/api/v1", routes=api_routes),
        Mount("/", StaticFiles(directory=WEB_DEMO, html=True, check_dir=False), name="web-demo"),
    ]
    middleware = [
        Middleware(RequestEnvelope),
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "ETag",
                "Retry-After",
                "X-Request-ID",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "RateLimit-Policy",
            ],
        ),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
