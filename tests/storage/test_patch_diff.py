"""Diffs between documents: make_ops (a patch from one to the other) and diff_documents
(the per-field changes that history and the changelog show)."""

from __future__ import annotations

import copy
import random
from typing import Any

import jsonpatch

from storage.patch_diff import diff_documents, make_ops
from storage.patching import apply_ops, check_ops
from tests.storage.documents import document


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    keys = ["a", "b", "a/b", "~", "~1", "", "0", "-", "c~0d"]
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, 1, -7, 2.5, 1.0, 10**12])
    if kind in (2, 3, 4):
        return rng.choice(["", "x", "red", "a/b", "~0"])
    if kind == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def random_document(rng: random.Random) -> dict[str, Any]:
    metadata = random_value(rng, 1)
    return document(
        title=rng.choice(["A", "B", "Design review"]),
        description=rng.choice(["", "notes"]),
        location=rng.choice([None, "Room 4"]),
        all_day=rng.choice([True, False, 1]),
        recurrence=rng.sample(
            ["RRULE:FREQ=DAILY", "EXDATE:20260309T080000Z", "RDATE:1"], rng.randrange(3)
        ),
        metadata=metadata if isinstance(metadata, dict) else {"v": metadata},
    )


def test_make_ops_round_trips_random_documents() -> None:
    """apply_ops(old, make_ops(old, new)) == new for many random pairs, and ops pass check."""
    rng = random.Random(6902)
    for _ in range(3000):
        old, new = random_document(rng), random_document(rng)
        if rng.random() < 0.3:  # nearby documents exercise the recursive metadata diff
            new = copy.deepcopy(old)
            new["metadata"][rng.choice(["a", "b", "a/b"])] = random_value(rng, 1)
        ops = make_ops(old, new)
        assert apply_ops(old, ops) == new
        assert jsonpatch.apply_patch(old, ops) == new  # an independent implementation agrees
        if ops:
            check_ops(ops)
        assert make_ops(new, new) == []


def test_make_ops_shape() -> None:
    """Changed fields are replaced whole; metadata is diffed key by key with escaping."""
    old = document(metadata={"keep": 1, "gone": 2, "a/b": {"x": 1, "y": [1]}, "arr": [1, 2]})
    new = document(title="B", metadata={"keep": 1, "a/b": {"x": 2, "y": [1]}, "arr": [1], "~": 0})
    assert make_ops(old, new) == [
        {"op": "replace", "path": "/title", "value": "B"},
        {"op": "replace", "path": "/metadata/a~1b/x", "value": 2},
        {"op": "replace", "path": "/metadata/arr", "value": [1]},
        {"op": "remove", "path": "/metadata/gone"},
        {"op": "add", "path": "/metadata/~0", "value": 0},
    ]


def test_make_ops_treats_a_boolean_as_different_from_a_number() -> None:
    """all_day True -> 1 is a change (JSON has no boolean-number equality)."""
    assert make_ops(document(all_day=True), document(all_day=1)) == [
        {"op": "replace", "path": "/all_day", "value": 1}
    ]


# --- diff_documents -----------------------------------------------------------------


def test_diff_top_level_fields_are_one_change_each() -> None:
    """Each changed field is one 'modified' change, in document order."""
    old = document()
    new = document(title="B", recurrence=[], location="Room 4")
    assert diff_documents(old, new) == [
        {
            "field": "title",
            "path": "/title",
            "old_value": "Design review",
            "new_value": "B",
            "change_type": "modified",
        },
        {
            "field": "location",
            "path": "/location",
            "old_value": None,
            "new_value": "Room 4",
            "change_type": "modified",
        },
        {
            "field": "recurrence",
            "path": "/recurrence",
            "old_value": old["recurrence"],
            "new_value": [],
            "change_type": "modified",
        },
    ]


def test_diff_metadata_reports_each_leaf_sorted_and_escaped() -> None:
    """Metadata changes are per leaf path, escaped per RFC 6901 and sorted by path."""
    old = document(
        metadata={"color": "red", "a": {"b": 1, "c": [1]}, "gone": True, "obj": {"k": 1}}
    )
    new = document(
        metadata={"color": "blue", "a": {"b": 1, "c": [1, 2]}, "a/b": 5, "obj": 7, "e": {}}
    )
    assert [
        (c["path"], c["change_type"], c["old_value"], c["new_value"])
        for c in diff_documents(old, new)
    ] == [
        ("/metadata/a/c", "modified", [1], [1, 2]),
        ("/metadata/a~1b", "added", None, 5),
        ("/metadata/color", "modified", "red", "blue"),
        ("/metadata/e", "added", None, {}),
        ("/metadata/gone", "removed", True, None),
        ("/metadata/obj", "added", None, 7),
        ("/metadata/obj/k", "removed", 1, None),
    ]
    assert {c["field"] for c in diff_documents(old, new)} == {"metadata"}


def test_diff_of_equal_documents_is_empty() -> None:
    """No change, no entries (1 and 1.0 are the same number)."""
    assert diff_documents(document(metadata={"x": 1}), document(metadata={"x": 1.0})) == []


def test_diff_against_a_missing_document_adds_every_field() -> None:
    """From {} (a create) every field is 'added' with old_value None."""
    changes = diff_documents({}, document(metadata={"color": "red"}))
    assert [c["path"] for c in changes][:2] == ["/title", "/description"]
    assert {c["change_type"] for c in changes} == {"added"}
    assert changes[-1] == {
        "field": "metadata",
        "path": "/metadata/color",
        "old_value": None,
        "new_value": "red",
        "change_type": "added",
    }
