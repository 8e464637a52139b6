"""Diffs between two event documents: an RFC 6902 patch or the contract's `changes`.

Pure functions, no I/O. `make_ops` turns a whole new document into a patch that
storage.patching can check and apply; `diff_documents` describes a version's changes.
"""

from __future__ import annotations

from typing import Any

from storage.document import DOCUMENT_FIELDS
from storage.json_values import json_copy
from storage.patching import escape, json_equal

# Fields diffed key by key, and how many object levels deep: metadata all the way
# down; overrides by occurrence, then by field (an override's metadata is one value).
_NESTED_FIELDS: dict[str, int | None] = {"metadata": None, "overrides": 2}


def _deeper(depth: int | None) -> int | None:
    return None if depth is None else depth - 1


def _diff_objects(
    old: dict[str, Any],
    new: dict[str, Any],
    prefix: str,
    ops: list[dict[str, Any]],
    depth: int | None,
) -> None:
    for key in sorted(old.keys() | new.keys()):
        path = f"{prefix}/{escape(key)}"
        if key not in new:
            ops.append({"op": "remove", "path": path})
        elif key not in old:
            ops.append({"op": "add", "path": path, "value": json_copy(new[key])})
        elif isinstance(old[key], dict) and isinstance(new[key], dict) and depth != 1:
            _diff_objects(old[key], new[key], path, ops, _deeper(depth))
        elif not json_equal(old[key], new[key]):
            ops.append({"op": "replace", "path": path, "value": json_copy(new[key])})


def make_ops(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """An RFC 6902 patch turning `old` into `new` (document fields only, in order).

    One "replace" per changed field, except metadata and overrides: objects are diffed
    key by key (add/remove/replace), arrays and other values are replaced whole. A field
    missing on one side is added or removed. Not `jsonpatch.make_patch` (open bug).
    """
    ops: list[dict[str, Any]] = []
    for field in DOCUMENT_FIELDS:
        path = "/" + field
        if field not in old and field not in new:
            continue
        if field not in new:
            ops.append({"op": "remove", "path": path})
        elif field not in old:
            ops.append({"op": "add", "path": path, "value": json_copy(new[field])})
        elif (
            field in _NESTED_FIELDS
            and isinstance(old[field], dict)
            and isinstance(new[field], dict)
        ):
            _diff_objects(old[field], new[field], path, ops, _NESTED_FIELDS[field])
        elif not json_equal(old[field], new[field]):
            ops.append({"op": "replace", "path": path, "value": json_copy(new[field])})
    return ops


def _leaves(value: Any, prefix: str, out: dict[str, Any], depth: int | None) -> dict[str, Any]:
    """Pointer -> leaf; a leaf is a non-object, an empty object (so none is lost), or
    any value `depth` levels down."""
    for key, child in value.items():
        path = f"{prefix}/{escape(key)}"
        if isinstance(child, dict) and child and depth != 1:
            _leaves(child, path, out, _deeper(depth))
        else:
            out[path] = child
    return out


def _field_leaves(document: dict[str, Any], field: str) -> dict[str, Any]:
    value = document.get(field, {})
    if isinstance(value, dict):
        return _leaves(value, "/" + field, {}, _NESTED_FIELDS[field])
    return {"/" + field: value}  # not an object: the whole value is one leaf


def _change(field: str, path: str, old: Any, new: Any, change_type: str) -> dict[str, Any]:
    return {
        "field": field,
        "path": path,
        "old_value": json_copy(old),
        "new_value": json_copy(new),
        "change_type": change_type,
    }


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The contract's `changes`: one per changed field, one per changed metadata leaf
    and one per changed override field (`/overrides/<occurrence id>/title`).

    Metadata and overrides are compared leaf by leaf, so an object replaced by a scalar shows as
    its old leaves `removed` plus the scalar `added` (and the reverse likewise).
    Their changes come sorted by path; a field missing on one side is
    `added`/`removed` with None on the missing side.
    """
    changes: list[dict[str, Any]] = []
    for field in DOCUMENT_FIELDS:
        path = "/" + field
        if field in _NESTED_FIELDS:
            before, after = _field_leaves(old, field), _field_leaves(new, field)
            for leaf in sorted(before.keys() | after.keys()):
                if leaf not in after:
                    changes.append(_change(field, leaf, before[leaf], None, "removed"))
                elif leaf not in before:
                    changes.append(_change(field, leaf, None, after[leaf], "added"))
                elif not json_equal(before[leaf], after[leaf]):
                    changes.append(_change(field, leaf, before[leaf], after[leaf], "modified"))
        elif field in old and field in new:
            if not json_equal(old[field], new[field]):
                changes.append(_change(field, path, old[field], new[field], "modified"))
        elif field in new:
            changes.append(_change(field, path, None, new[field], "added"))
        elif field in old:
            changes.append(_change(field, path, old[field], None, "removed"))
    return changes
