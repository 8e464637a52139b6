"""The bodies of PROTOCOL.md's v1.1 additions: iCalendar feeds and import, incremental
sync and the audit trail (the v1 bodies are in wire_models.py, whose types these use).
Pure: no I/O.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from realtime.http.wire_models import Event, Time

# --- iCalendar --------------------------------------------------------------------


class ImportResult(Struct):
    created: list[int]
    updated: list[int]
    unchanged: list[int]


class NewFeed(Struct):
    id: int
    url: Annotated[str, Meta(description="the secret subscription URL, shown only here")]
    created_at: Time


class FeedInfo(Struct):
    id: int
    created_at: Time
    last_used_at: Time | None


class Feeds(Struct):
    items: list[FeedInfo]


# --- sync and audit ----------------------------------------------------------------


class SyncedEvent(Struct, tag_field="type", tag="event"):
    """Created, changed, newly shared or the caller's role changed: the event as it is now."""

    event: Event


class SyncRemoval(Struct, tag_field="type", tag="removed"):
    """Deleted, or no longer visible to the caller."""

    event_id: int
    reason: Literal["deleted", "revoked"]


class SyncPage(Struct):
    items: list[SyncedEvent | SyncRemoval]
    next_cursor: str
    has_more: bool


class AuditActor(Struct):
    id: int
    username: str


class AuditRecord(Struct):
    seq: int
    at: Time
    actor: AuditActor | None
    action: str
    event_id: int | None
    target_user_id: int | None
    version: int | None
    ip: str | None
    request_id: str | None
    hash: str


class AuditPage(Struct):
    items: Annotated[list[AuditRecord], Meta(description="oldest first")]
    next_cursor: str | None
