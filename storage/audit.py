"""The audit trail: one record per state-changing action, hash-chained per event and
per account.

Each record is appended in the transaction of the action it describes. A record's
`hash` is SHA-256 (hex) of the previous hash in its chain followed by the
record's canonical JSON (see `canonical_json`); the first record of a chain
follows the empty string.

Chains are per event (`event:<id>`) and per account (`user:<id>`; a failed
login on an unknown name goes to `anonymous`), never one global chain: appending
must lock the chain's head, and one head for everything would make every edit
wait for every other. An event chain's head is a column of the event row, which
each writer of the event locks anyway; account heads live in audit_heads, and so
does a deleted event's final head, so that a record removed from the end of its
chain is still found.
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.document import format_time
from storage.tables import audit_heads, audit_records, events

ANONYMOUS_CHAIN = "anonymous"


@dataclass(frozen=True)
class RequestOrigin:
    """Where the action came from: set by the server for each request and socket."""

    ip: str | None = None
    request_id: str | None = None


# The one piece of ambient state here: the client address and request id are known
# only to the HTTP layer, and every write path below it would otherwise have to
# carry them along. A WebSocket keeps the values of its upgrade request.
request_origin: ContextVar[RequestOrigin | None] = ContextVar("request_origin", default=None)


@dataclass(frozen=True)
class Entry:
    """A record before it is chained."""

    action: str
    at: datetime
    actor_id: int | None
    event_id: int | None = None
    target_user_id: int | None = None
    version: int | None = None
    ip: str | None = None
    request_id: str | None = None


def event_chain(event_id: int) -> str:
    return f"event:{event_id}"


def account_chain(user_id: int | None) -> str:
    return ANONYMOUS_CHAIN if user_id is None else f"user:{user_id}"


def entry(action: str, at: datetime, actor_id: int | None, **fields: Any) -> Entry:
    """An entry stamped with the current request's origin."""
    origin = request_origin.get() or RequestOrigin()
    return Entry(action, at, actor_id, ip=origin.ip, request_id=origin.request_id, **fields)


def canonical_json(item: Entry) -> str:
    """The hashed form: every field of the record but `seq` (assigned on insert), `hash`,
    and the actor's username (a display join: the actor is its id). Keys sorted, no
    spaces, `at` exactly as answered."""
    fields = {
        "action": item.action,
        "actor_id": item.actor_id,
        "at": format_time(item.at),
        "event_id": item.event_id,
        "ip": item.ip,
        "request_id": item.request_id,
        "target_user_id": item.target_user_id,
        "version": item.version,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(previous: str, item: Entry) -> str:
    return hashlib.sha256((previous + canonical_json(item)).encode()).hexdigest()


_INSERT = audit_records.insert()


def record_values(chain: str, item: Entry, hash_: str) -> dict[str, Any]:
    """The audit_records row of an entry chained with `hash_` (every column but seq)."""
    return {"chain": chain, "hash": hash_, **vars(item)}


async def insert(conn: AsyncConnection, record: dict[str, Any]) -> None:
    """Store a record (`record_values`) chained against the head the caller holds."""
    await conn.execute(_INSERT, record)


async def append_to_event(
    conn: AsyncConnection, item: Entry, *, previous: str | None = None, last: bool = False
) -> None:
    """Append to the event's chain, locking the event row (its head) until commit.

    `previous` when the caller knows the head (a new event's is empty);
    `last=True` for a deletion: the row is about to go, so the chain's final head is
    kept in audit_heads instead.
    """
    assert item.event_id is not None
    if previous is None:
        head = sa.select(events.c.audit_hash).where(events.c.id == item.event_id)
        if conn.dialect.name == "postgresql":
            head = head.with_for_update()
        previous = (await conn.execute(head)).scalar_one()
    hash_ = chain_hash(previous, item)
    chain = event_chain(item.event_id)
    if last:
        await conn.execute(audit_heads.insert().values(chain=chain, hash=hash_))
    else:
        await conn.execute(
            events.update().where(events.c.id == item.event_id).values(audit_hash=hash_)
        )
    await insert(conn, record_values(chain, item, hash_))


async def append_to_account(conn: AsyncConnection, item: Entry, user_id: int | None) -> None:
    """Append to the account's chain (`anonymous` without one), locking its head."""
    chain = account_chain(user_id)
    # Creates the head on first use and locks it either way; the update that keeps
    # the value makes both databases return the row that is there.
    upsert = _upsert(conn.dialect.name)
    previous = (
        await conn.execute(
            upsert.values(chain=chain, hash="")
            .on_conflict_do_update(index_elements=["chain"], set_={"hash": audit_heads.c.hash})
            .returning(audit_heads.c.hash)
        )
    ).scalar_one()
    hash_ = chain_hash(previous, item)
    await conn.execute(audit_heads.update().where(audit_heads.c.chain == chain).values(hash=hash_))
    await insert(conn, record_values(chain, item, hash_))


def _upsert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(audit_heads)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(audit_heads)
