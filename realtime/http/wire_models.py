"""The wire contract's bodies as typed models, from which /openapi.json takes its schemas.

The limits come from the modules that enforce them (auth.rules, storage.document,
storage.patching, realtime.usecases.calendar), so the documented schema moves with the code.
Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType
from starlette.convertors import Convertor, register_url_convertor

from auth.rules import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD, USERNAME
from realtime.usecases.calendar import MAX_BATCH
from storage.document import DEFAULTS, MAX_DESCRIPTION, MAX_LOCATION, MAX_OVERRIDES, MAX_TITLE
from storage.patching import MAX_OPS
from storage.records import MAX_ID

# RFC 3339 with an offset; the server always answers in UTC with `Z`.
Time = Annotated[
    datetime,
    Meta(extra_json_schema={"format": "date-time", "examples": ["2026-03-02T08:00:00Z"]}),
]
Username = Annotated[str, Meta(pattern=f"^{USERNAME.pattern}$")]
Email = Annotated[str, Meta(max_length=MAX_EMAIL, pattern="^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$")]
Password = Annotated[str, Meta(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
Title = Annotated[str, Meta(min_length=1, max_length=MAX_TITLE)]
Description = Annotated[str, Meta(max_length=MAX_DESCRIPTION)]
Location = Annotated[str, Meta(max_length=MAX_LOCATION)]
TimeZone = Annotated[str, Meta(description="an IANA time zone name", examples=["Europe/Paris"])]
Recurrence = Annotated[
    list[str],
    Meta(description="RFC 5545 RRULE, RDATE and EXDATE lines; [] for a single event"),
]
Metadata = Annotated[
    dict[str, Any], Meta(description="client-owned JSON object, at most 16 KiB encoded")
]
Role = Literal["owner", "editor", "viewer"]
Origin = Literal["create", "rest", "ws", "rollback", "import"]
OccurrenceId = Annotated[
    str,
    Meta(
        description="an occurrence's original start in UTC",
        examples=["2026-03-16T08:00:00Z"],
    ),
]
PositiveId = Annotated[int, Meta(ge=1)]


def at_most(limit: int) -> str:
    """A regular expression for the decimal numbers 0..limit."""
    digits = str(limit)
    # Fewer digits than limit; then, digit by digit, a smaller digit followed by any.
    alternatives = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        lowest = 1 if i == 0 and len(digits) > 1 else 0
        if int(digit) > lowest:
            rest = len(digits) - i - 1
            alternatives.append(f"{digits[:i]}[{lowest}-{int(digit) - 1}][0-9]{{{rest}}}")
    return "|".join([*alternatives, digits])


class IdConvertor(Convertor[int]):
    """`{name:id}` in a route path: an integer from 0 to MAX_ID."""

    regex = f"(?:{at_most(MAX_ID)})"
    json_schema = {"type": "integer", "minimum": 0, "maximum": MAX_ID}

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


# Registered on import: the route modules import this module before building routes.
register_url_convertor("id", IdConvertor())


# --- auth -------------------------------------------------------------------------


class RegisterRequest(Struct):
    username: Username
    email: Email
    password: Password


class LoginRequest(Struct):
    username: Annotated[str, Meta(description="the username or the email")]
    password: str


class RefreshRequest(Struct):
    refresh_token: str


class LogoutRequest(Struct):
    refresh_token: str | UnsetType = UNSET


class User(Struct):
    id: int
    username: str
    email: str
    created_at: Time


class TokenGrant(Struct):
    user: User
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: Annotated[int, Meta(description="seconds until the access token expires")]


# --- events -----------------------------------------------------------------------


class Override(Struct, forbid_unknown_fields=True):
    """How one occurrence differs from its series (each field replaces the series')."""

    title: Title | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    location: Location | UnsetType | None = UNSET
    start_time: Time | UnsetType = UNSET
    end_time: Time | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


Overrides = Annotated[
    dict[OccurrenceId, Override],
    Meta(description=f"by occurrence id, at most {MAX_OVERRIDES}; only in a recurring event"),
]


class NewEvent(Struct, forbid_unknown_fields=True):
    """An event document to create: the optional fields take their defaults."""

    title: Title
    start_time: Time
    end_time: Annotated[Time, Meta(description="after start_time")]
    description: Description = DEFAULTS["description"]
    location: Location | None = DEFAULTS["location"]
    timezone: TimeZone = DEFAULTS["timezone"]
    all_day: bool = DEFAULTS["all_day"]
    recurrence: Recurrence = msgspec.field(default_factory=list)
    metadata: Metadata = msgspec.field(default_factory=dict)
    overrides: Overrides = msgspec.field(default_factory=dict)


class EventChanges(Struct, forbid_unknown_fields=True):
    """Any subset of the document's fields (PUT)."""

    title: Title | UnsetType = UNSET
    start_time: Time | UnsetType = UNSET
    end_time: Time | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    location: Location | UnsetType | None = UNSET
    timezone: TimeZone | UnsetType = UNSET
    all_day: bool | UnsetType = UNSET
    recurrence: Recurrence | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET
    overrides: Overrides | UnsetType = UNSET


class NewEvents(Struct):
    events: Annotated[list[NewEvent], Meta(min_length=1, max_length=MAX_BATCH)]


class EventDocument(Struct):
    """The document as stored: every field, times in UTC."""

    title: str
    description: str
    location: str | None
    start_time: Time
    end_time: Time
    timezone: str
    all_day: bool
    recurrence: list[str]
    metadata: dict[str, Any]
    overrides: dict[str, Override]


class Event(EventDocument):
    id: int
    owner_id: int
    version: int
    role: Role
    created_at: Time
    updated_at: Time
    updated_by: int
    uid: Annotated[str, Meta(description="the iCalendar UID")]


class ListedEvent(Event):
    """An event of a listing; with expand=true, one occurrence of it (overrides applied)."""

    occurrence_id: OccurrenceId | UnsetType | None = UNSET
    occurrence_start: Time | UnsetType = UNSET
    occurrence_end: Time | UnsetType = UNSET


class EventPage(Struct):
    items: list[ListedEvent]
    next_cursor: str | None


class CreatedEvents(Struct):
    items: list[Event]


class SplitRequest(Struct, forbid_unknown_fields=True):
    occurrence_id: Annotated[OccurrenceId, Meta(description="not the first occurrence")]
    changes: EventChanges = msgspec.field(default_factory=EventChanges)


class SplitEvents(Struct):
    before: Annotated[Event, Meta(description="the series, now ending before the occurrence")]
    after: Annotated[Event, Meta(description="the new series, from that occurrence on")]


class ConflictingOccurrence(Struct):
    event_id: int
    title: str
    start: Time
    end: Time


class Conflict(Struct):
    a: ConflictingOccurrence
    b: ConflictingOccurrence


class Conflicts(Struct):
    items: list[Conflict]


# --- RFC 6902 JSON Patch ----------------------------------------------------------


class AddOp(Struct, tag_field="op", tag="add"):
    path: str
    value: Any


class RemoveOp(Struct, tag_field="op", tag="remove"):
    path: str


class ReplaceOp(Struct, tag_field="op", tag="replace"):
    path: str
    value: Any


class MoveOp(Struct, tag_field="op", tag="move"):
    from_: str = msgspec.field(name="from")
    path: str


class CopyOp(Struct, tag_field="op", tag="copy"):
    from_: str = msgspec.field(name="from")
    path: str


class TestOp(Struct, tag_field="op", tag="test"):
    path: str
    value: Any


PatchOp = AddOp | RemoveOp | ReplaceOp | MoveOp | CopyOp | TestOp
Patch = Annotated[list[PatchOp], Meta(min_length=1, max_length=MAX_OPS)]


# --- sharing ----------------------------------------------------------------------


class ShareTarget(Struct):
    """One user, named by user_id or by username."""

    role: Literal["editor", "viewer"]
    user_id: Annotated[int, Meta(ge=0, le=MAX_ID)] | UnsetType = UNSET
    username: str | UnsetType = UNSET


class ShareRequest(Struct):
    users: Annotated[list[ShareTarget], Meta(min_length=1)]


class RoleChange(Struct):
    role: Annotated[Role, Meta(description="owner transfers ownership")]


class Permission(Struct):
    user_id: int
    username: str
    role: Role
    granted_by: int
    granted_at: Time


class Permissions(Struct):
    items: Annotated[list[Permission], Meta(description="the owner first")]


# --- history ----------------------------------------------------------------------


class Author(Struct):
    id: int
    username: str


class VersionRow(Struct):
    version: int
    author: Author
    at: Time
    origin: Origin
    op_id: str | None
    ops: list[dict[str, Any]]


class VersionPage(Struct):
    items: Annotated[list[VersionRow], Meta(description="newest first")]
    next_cursor: str | None


class VersionWithEvent(VersionRow):
    event: EventDocument


class Change(Struct):
    field: str
    path: str
    old_value: Any
    new_value: Any
    change_type: Literal["added", "removed", "modified"]


class Diff(Struct):
    event_id: int
    from_version: int
    to_version: int
    changes: list[Change]
    patch: list[dict[str, Any]]


class ChangelogEntry(Struct):
    version: int
    author: Author
    at: Time
    origin: Origin
    summary: str
    changes: list[Change]


class Changelog(Struct):
    items: list[ChangelogEntry]
    next_cursor: str | None


# --- operations -------------------------------------------------------------------


class Health(Struct):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]
    broadcast: Literal["ok", "unavailable"]
    version: str


# --- query parameters and headers -------------------------------------------------

PageSize = Annotated[int, Meta(ge=1, le=200, description="at most this many items (default 50)")]
VersionCursor = Annotated[
    str, Meta(pattern=f"^(?:{at_most(MAX_ID)})$", description="next_cursor of the last page")
]
SyncPageSize = Annotated[
    int, Meta(ge=1, le=1000, description="at most this many items (default 500)")
]
AuditCursor = Annotated[
    str, Meta(pattern="^[0-9]{1,19}$", description="next_cursor of the last page")
]
ConflictPolicy = Literal["reject", "allow"]
ETag = Annotated[str, Meta(description='"<version>" from an ETag, or *', examples=['"3"'])]
SortOrder = Literal["asc", "desc"]
