"""The arrangement most WebSocket tests start from, said once: people register, the
first creates an event and shares it with the others, and each opens sockets on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support import Account, create_event, register, share
from tests.ws_client import Sockets, WSClient


@dataclass
class SharedEvent:
    """An event, its owner and the users it was shared with; sockets on demand."""

    event: dict[str, Any]
    owner: Account
    members: list[Account]  # one per role asked for, in that order
    ws_url: str
    pool: Sockets

    @property
    def id(self) -> int:
        return self.event["id"]

    @property
    def people(self) -> list[Account]:
        """The owner, then the members."""
        return [self.owner, *self.members]

    async def socket(self, account: Account, *, join: bool = True) -> WSClient:
        """A socket of `account` whose `ready` (and, unless join=False, `joined`) is consumed."""
        (client,) = await self.sockets(account, join=join)
        return client

    async def sockets(self, *accounts: Account, join: bool = True) -> list[WSClient]:
        """One socket per account given (an account may appear twice), all ready first,
        then joined in that order unless join=False."""
        clients = [await self.pool.ready(self.ws_url, a.access_token) for a in accounts]
        if join:
            for client in clients:
                await client.join(self.id)
        return clients


class SharedEvents:
    """Makes SharedEvents through the API of one server."""

    def __init__(self, http: httpx.AsyncClient, ws_url: str, pool: Sockets) -> None:
        self.http = http
        self.ws_url = ws_url
        self.pool = pool

    async def __call__(self, *roles: str, **fields: Any) -> SharedEvent:
        """A new owner's event (with `fields`), shared with one new user per role."""
        owner = await register(self.http)
        event = await create_event(self.http, owner, **fields)
        members = []
        for role in roles:
            member = await register(self.http)
            await share(self.http, owner, event["id"], member, role)
            members.append(member)
        return SharedEvent(event, owner, members, self.ws_url, self.pool)
