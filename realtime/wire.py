"""How records look on the wire: events, versions, permissions."""

from __future__ import annotations

from typing import Any

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
    }


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
