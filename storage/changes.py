"""What an edit asks for, as data, and the patch it makes to the current document.

The edit engine (storage.edits) takes one of these instead of code from its callers,
and computes the patch inside its transaction: PUT and rollback must be diffed
against the document as it stands under the lock, not as the client last saw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.document import build_document
from storage.history import get_version
from storage.ical_import import reimported
from storage.overrides import (
    cancel_occurrence_ops,
    cancelled_override_ops,
    set_occurrence_ops,
    without_orphans,
)
from storage.patch_diff import make_ops
from storage.patching import check_ops
from storage.records import EventRecord


@dataclass(frozen=True)
class ApplyOps:
    """A client's RFC 6902 patch (REST PATCH, WebSocket), not yet checked: the engine
    checks it after the op_id, so that a resent op is acknowledged before any other
    rule, as the contract orders.
    """

    ops: object


@dataclass(frozen=True)
class SetFields:
    """REST PUT: these fields replace the current ones. The patch is computed against
    the document under the lock, not the one the client last saw.
    """

    fields: dict[str, Any]


@dataclass(frozen=True)
class RestoreVersion:
    """Rollback: the document becomes the snapshot of this earlier version."""

    version: int


@dataclass(frozen=True)
class SetOccurrence:
    """One occurrence's override takes these fields (PUT .../occurrences/{id})."""

    occurrence_id: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class CancelOccurrence:
    """One occurrence is cancelled: an EXDATE, and its override dropped."""

    occurrence_id: str


@dataclass(frozen=True)
class ReplaceDocument:
    """The document becomes this one (a split's earlier half)."""

    document: dict[str, Any]


@dataclass(frozen=True)
class ImportDocument:
    """The document becomes this imported one, less what iCalendar does not carry
    (storage.ical_import.reimported)."""

    document: dict[str, Any]


Change = (
    ApplyOps
    | SetFields
    | RestoreVersion
    | SetOccurrence
    | CancelOccurrence
    | ReplaceDocument
    | ImportDocument
)


async def patch_for(
    conn: AsyncConnection | None, change: Change, current: EventRecord
) -> list[dict[str, Any]]:
    """The RFC 6902 patch that `change` makes to `current`, the locked event (`conn`
    for a RestoreVersion, which reads the version)."""
    match change:
        case ApplyOps(ops):
            checked = check_ops(ops)
            return checked + cancelled_override_ops(current.document, checked)
        case SetFields(fields):
            merged = {**current.document, **fields}
            if "overrides" not in fields:
                # PUT drops the overrides its change orphans; a patch must say so itself.
                merged = without_orphans(merged)
            return make_ops(current.document, build_document(merged, base=current.document))
        case RestoreVersion(version):
            assert conn is not None, "a rollback reads the version through SQLAlchemy"
            target = await get_version(conn, current.id, version)
            return make_ops(current.document, target.record.snapshot)
        case SetOccurrence(occurrence_id, fields):
            return set_occurrence_ops(current.document, occurrence_id, fields)
        case CancelOccurrence(occurrence_id):
            return cancel_occurrence_ops(current.document, occurrence_id)
        case ReplaceDocument(document):
            return make_ops(current.document, document)
        case ImportDocument(document):
            return make_ops(current.document, reimported(current.document, document))
