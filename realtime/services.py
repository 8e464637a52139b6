"""The shared resources of one server process, created in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from auth.service import AuthService, Principal
from realtime.broadcast import Broadcast
from realtime.http.bodies import bearer_token
from realtime.ops.rate_limits import RateLimits
from realtime.settings import Settings
from realtime.usecases.calendar import Calendar
from realtime.usecases.feeds import Feeds
from realtime.usecases.notify import Notifier
from realtime.usecases.reads import CalendarReads
from realtime.usecases.sync import Sync
from realtime.ws.rooms import Rooms
from realtime.ws.sockets import Sockets
from storage.database import Database
from storage.users import User


@dataclass
class Resources:
    settings: Settings
    database: Database
    broadcast: Broadcast
    auth: AuthService
    notifier: Notifier
    calendar: Calendar
    reads: CalendarReads
    feeds: Feeds
    rooms: Rooms
    sockets: Sockets
    rate_limits: RateLimits
    sync: Sync


def resources(connection: HTTPConnection) -> Resources:
    return connection.app.state.tandem  # type: ignore[no-any-return]


async def authenticate(connection: HTTPConnection) -> Principal:
    """The caller of an authenticated route (401 in the contract's shape otherwise).

    Each call counts against the caller's API rate limit (429 when over).
    """
    state = resources(connection)
    principal = await state.auth.authenticate(bearer_token(connection))  # type: ignore[arg-type]
    await state.rate_limits.check_user(connection, principal.user.id)
    return principal


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "created_at": user.created_at,
    }
