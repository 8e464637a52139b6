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


Change = ApplyOps | SetFields | RestoreVersion


async def patch_for(
    conn: AsyncConnection, change: Change, current: EventRecord
) -> list[dict[str, Any]]:
    """The RFC 6902 patch that `change` makes to `current`, the locked event."""
    match change:
        case ApplyOps(ops):
            return check_ops(ops)
        case SetFields(fields):
            return make_ops(current.document, build_document(fields, base=current.document))
        case RestoreVersion(version):
            target = await get_version(conn, current.id, version)
            return make_ops(current.document, target.record.snapshot)
