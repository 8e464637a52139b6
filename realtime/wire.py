"""How records look on the wire: events, versions, permissions, audit records."""

from __future__ import annotations

from typing import Any

from storage.audit_trail import AuditRecord
from storage.events import Occurrence
from storage.history import AuthoredVersion
from storage.permissions import Permission
from storage.records import EventRecord


def event_json(event: EventRecord, role: str) -> dict[str, Any]:
    return {
        "id": event.id,
        "owner_id": event.owner_id,
        "version": event.version,
        "role": role,
        **event.document,
        "created_at": event.created_at,
        "updated_at": event.updated_at,
        "updated_by": event.updated_by,
        "uid": event.uid,
    }


def occurrence_json(occ: Occurrence) -> dict[str, Any]:
    """An item of an expanded listing: the event with this occurrence's overrides applied."""
    item = event_json(occ.event, occ.role)  # a new dict: completed in place, not copied
    item.update(occ.fields)
    item["occurrence_id"] = occ.occurrence_id
    item["occurrence_start"] = occ.start
    item["occurrence_end"] = occ.end
    return item


def version_json(authored: AuthoredVersion) -> dict[str, Any]:
    record = authored.record
    return {
        "version": record.version,
        "author": {"id": record.author_id, "username": authored.author_name},
        "at": record.at,
        "origin": record.origin,
        "op_id": record.op_id,
        "ops": record.ops,
    }


def permission_json(permission: Permission) -> dict[str, Any]:
    return {
        "user_id": permission.user_id,
        "username": permission.username,
        "role": permission.role,
        "granted_by": permission.granted_by,
        "granted_at": permission.granted_at,
    }


def audit_record_json(record: AuditRecord) -> dict[str, Any]:
    item = record.entry
    actor = None
    if item.actor_id is not None:
        actor = {"id": item.actor_id, "username": record.actor_username}
    return {
        "seq": record.seq,
        "at": item.at,
        "actor": actor,
        "action": item.action,
        "event_id": item.event_id,
        "target_user_id": item.target_user_id,
        "version": item.version,
        "ip": item.ip,
        "request_id": item.request_id,
        "hash": record.hash,
    }
