"""Typed rows of the event store, and turning table rows into them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec
import sqlalchemy as sa

from storage.document import DEFAULTS, DOCUMENT_FIELDS, format_time
from storage.json_values import json_copy
from storage.tables import events

# Ids and versions are 32-bit integer columns in PostgreSQL: every entry point
# refuses a larger number before it reaches a query.
MAX_ID = 2**31 - 1


class EventRecord(msgspec.Struct, frozen=True):
    """An event as stored. A struct: a listing makes hundreds, and a frozen dataclass
    took 2 us each to make (one `object.__setattr__` per field), a struct 0.2."""

    id: int
    owner_id: int
    version: int
    document: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    updated_by: int
    uid: str

    def as_of(self, version: VersionRecord) -> EventRecord:
        """The event as `version` left it (its document, number, author and time)."""
        return msgspec.structs.replace(
            self,
            version=version.version,
            document=version.snapshot,
            updated_at=version.at,
            updated_by=version.author_id,
        )


@dataclass(frozen=True)
class VersionRecord:
    event_id: int
    version: int
    author_id: int
    origin: str
    op_id: str | None
    ops: list[dict[str, Any]]
    snapshot: dict[str, Any]
    at: datetime


# What event_record reads: the listings select these, not the bounds or the audit hash.
RECORD_COLUMNS = [
    events.c[name]
    for name in (
        "id",
        "owner_id",
        "version",
        *DOCUMENT_FIELDS,
        "created_at",
        "updated_at",
        "updated_by",
        "uid",
    )
]


# A listing formats the same stored times on every read (a month's expansion reads
# hundreds of rows): formatted once per process instead.
format_stored_time = lru_cache(maxsize=1 << 15)(format_time)


def event_record(row: sa.Row[Any] | Mapping[Any, Any]) -> EventRecord:
    mapping = _mapping(row)
    document = {name: mapping[name] for name in DOCUMENT_FIELDS}
    document["start_time"] = format_stored_time(mapping["start_time"])
    document["end_time"] = format_stored_time(mapping["end_time"])
    return EventRecord(
        id=mapping["id"],
        owner_id=mapping["owner_id"],
        version=mapping["version"],
        document=document,
        created_at=mapping["created_at"],
        updated_at=mapping["updated_at"],
        updated_by=mapping["updated_by"],
        uid=mapping["uid"],
    )


def version_record(row: sa.Row[Any] | Mapping[Any, Any]) -> VersionRecord:
    m = _mapping(row)
    return VersionRecord(
        m["event_id"],
        m["version"],
        m["author_id"],
        m["origin"],
        m["op_id"],
        m["ops"],
        complete_snapshot(m["snapshot"]),
        m["at"],
    )


def _mapping(row: sa.Row[Any] | Mapping[Any, Any]) -> Mapping[Any, Any]:
    """A row's columns by name: a SQLAlchemy row's, or an asyncpg record itself."""
    return row._mapping if isinstance(row, sa.Row) else row


def complete_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A stored snapshot with the fields added since it was written, at their defaults
    (versions from before `overrides` existed had none)."""
    missing = [name for name in DOCUMENT_FIELDS if name not in snapshot]
    return {**snapshot, **{name: json_copy(DEFAULTS[name]) for name in missing}}
