"""The patch rules of the contract: checking, applying, and the overlap used to rebase."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from storage.errors import TandemError
from storage.patching import (
    MAX_OPS,
    apply_ops,
    check_ops,
    escape,
    parse_pointer,
    paths_overlap,
    touched_paths,
    unescape,
)
from tests.storage.documents import document


def refused(code: str, document_: dict[str, Any], ops: list[Any]) -> TandemError:
    with pytest.raises(TandemError) as info:
        apply_ops(document_, ops)
    assert info.value.code == code, info.value.message
    return info.value


# --- check_ops ----------------------------------------------------------------------


@pytest.mark.parametrize("ops", [[], None, {}, "[]", {"op": "add"}, 3, ({"op": "remove"},)])
def test_check_ops_refuses_empty_and_non_list(ops: Any) -> None:
    """An empty patch or one that is not a list is invalid_patch."""
    with pytest.raises(TandemError) as info:
        check_ops(ops)
    assert info.value.code == "invalid_patch"


def test_check_ops_limits_the_number_of_ops() -> None:
    """Exactly MAX_OPS ops pass; one more is too_large."""
    op = {"op": "test", "path": "/title", "value": "x"}
    assert len(check_ops([op] * MAX_OPS)) == MAX_OPS
    with pytest.raises(TandemError) as info:
        check_ops([op] * (MAX_OPS + 1))
    assert info.value.code == "too_large"


def test_check_ops_returns_the_same_list() -> None:
    """A valid patch comes back unchanged, extra members allowed (RFC 6902 4)."""
    ops = [
        {"op": "add", "path": "/metadata/x", "value": 1, "comment": "ignored"},
        {"op": "remove", "path": "/location"},
        {"op": "replace", "path": "/title", "value": "B"},
        {"op": "move", "from": "/metadata/x", "path": "/metadata/y"},
        {"op": "copy", "from": "/title", "path": "/metadata/t"},
        {"op": "test", "path": "/recurrence/0", "value": "RRULE:FREQ=DAILY"},
        {"op": "add", "path": "/metadata/a~1b/~0", "value": None},
    ]
    assert check_ops(ops) is ops


@pytest.mark.parametrize(
    "path", ["", "/", "/id", "/version", "/owner_id", "/nope", "/Title", "title", "/~1title"]
)
def test_paths_outside_the_document_are_refused(path: str) -> None:
    """The root, server fields and unknown names are invalid_patch, with the op index."""
    ops = [{"op": "test", "path": "/title", "value": "x"}, {"op": "add", "path": path, "value": 1}]
    with pytest.raises(TandemError) as info:
        check_ops(ops)
    assert (info.value.code, info.value.details) == ("invalid_patch", {"index": 1})


@pytest.mark.parametrize("source", ["", "/id", "/version", "nope"])
def test_from_outside_the_document_is_refused(source: str) -> None:
    """A move or copy from the root or a server field is invalid_patch."""
    for kind in ("move", "copy"):
        with pytest.raises(TandemError) as info:
            check_ops([{"op": kind, "from": source, "path": "/metadata/x"}])
        assert info.value.code == "invalid_patch"


@pytest.mark.parametrize(
    "op",
    [
        "add",
        None,
        [],
        {},
        {"path": "/title", "value": 1},
        {"op": "spam", "path": "/title", "value": 1},
        {"op": "ADD", "path": "/title", "value": 1},
        {"op": 1, "path": "/title", "value": 1},
        {"op": "add", "value": 1},
        {"op": "add", "path": None, "value": 1},
        {"op": "add", "path": 5, "value": 1},
        {"op": "add", "path": "/title"},
        {"op": "replace", "path": "/title"},
        {"op": "test", "path": "/title"},
        {"op": "move", "path": "/metadata/x"},
        {"op": "copy", "path": "/metadata/x", "from": None},
        {"op": "add", "path": "/metadata/~2", "value": 1},
        {"op": "add", "path": "/metadata/a~", "value": 1},
        {"op": "add", "path": "/metadata/x", "value": {1: "non-string key"}},
        {"op": "add", "path": "/metadata/x", "value": float("nan")},
        {"op": "add", "path": "/metadata/x", "value": b"bytes"},
        {"op": "add", "path": "/metadata/x", "value": ("tuple",)},
        {"op": "move", "from": "/metadata", "path": "/metadata/x"},
        {"op": "move", "from": "/metadata/a", "path": "/metadata/a/b/c"},
    ],
)
def test_malformed_ops_are_refused(op: Any) -> None:
    """Anything but a valid RFC 6902 op on the document is invalid_patch at its index."""
    with pytest.raises(TandemError) as info:
        check_ops([{"op": "test", "path": "/title", "value": "Design review"}, op])
    assert (info.value.code, info.value.details) == ("invalid_patch", {"index": 1})
    refused("invalid_patch", document(), [op])


def test_deeply_nested_values_are_refused() -> None:
    """A value nested beyond MAX_VALUE_DEPTH is invalid_patch, not a RecursionError."""
    value: Any = 1
    for _ in range(5000):
        value = [value]
    refused("invalid_patch", document(), [{"op": "add", "path": "/metadata/x", "value": value}])


def test_move_to_a_sibling_with_a_common_prefix_is_allowed() -> None:
    """Only a proper token prefix counts: /metadata/a may move to /metadata/ab."""
    result = apply_ops(
        {"metadata": {"a": 1}}, [{"op": "move", "from": "/metadata/a", "path": "/metadata/ab"}]
    )
    assert result == {"metadata": {"ab": 1}}


# --- apply_ops ----------------------------------------------------------------------


def test_every_op_kind_applies() -> None:
    """add, remove, replace, move, copy and test behave as RFC 6902 says."""
    result = apply_ops(
        document(),
        [
            {"op": "replace", "path": "/title", "value": "Retro"},
            {"op": "add", "path": "/recurrence/0", "value": "RDATE:20260401T080000Z"},
            {"op": "remove", "path": "/recurrence/2"},
            {"op": "add", "path": "/metadata/tags/-", "value": "c"},
            {"op": "move", "from": "/metadata/tags/0", "path": "/metadata/tags/2"},
            {"op": "copy", "from": "/metadata/color", "path": "/metadata/background"},
            {"op": "replace", "path": "/location", "value": "Room 4"},
            {"op": "test", "path": "/metadata/a~1b/~0x", "value": 1.0},
            {"op": "test", "path": "/all_day", "value": False},
        ],
    )
    assert result == document(
        title="Retro",
        location="Room 4",
        recurrence=["RDATE:20260401T080000Z", "RRULE:FREQ=WEEKLY;COUNT=3"],
        metadata={
            "color": "red",
            "background": "red",
            "tags": ["b", "c", "a"],
            "a/b": {"~x": 1},
        },
    )


def test_input_document_and_ops_are_never_mutated() -> None:
    """apply_ops works on a copy, and the result shares nothing with the ops."""
    original, ops = document(), [{"op": "add", "path": "/metadata/list", "value": [1, {"x": 2}]}]
    before_doc, before_ops = copy.deepcopy(original), copy.deepcopy(ops)
    result = apply_ops(original, ops)
    result["metadata"]["list"][1]["x"] = 99
    result["metadata"]["tags"].append("z")
    assert (original, ops) == (before_doc, before_ops)


def test_a_failing_op_leaves_nothing_applied() -> None:
    """A patch is atomic: after a refusal the input is untouched."""
    original = document()
    ops = [
        {"op": "replace", "path": "/title", "value": "B"},
        {"op": "remove", "path": "/metadata/nope"},
    ]
    error = refused("invalid_patch", original, ops)
    assert error.details == {"index": 1}
    assert original == document()


def test_replace_keeps_the_key_position() -> None:
    """Replacing a metadata key leaves key order as it was."""
    result = apply_ops(document(), [{"op": "replace", "path": "/metadata/color", "value": "blue"}])
    assert list(result["metadata"]) == ["color", "tags", "a/b"]


@pytest.mark.parametrize(
    ("value", "target"),
    [
        (1, 1.0),
        (1.0, 1),
        (0, 0.0),
        ([1, {"a": 2}], [1.0, {"a": 2.0}]),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
    ],
)
def test_test_compares_numbers_by_value(value: Any, target: Any) -> None:
    """RFC 6902 4.6: numbers are equal when numerically equal, objects ignore order."""
    assert apply_ops(
        {"metadata": {"x": target}}, [{"op": "test", "path": "/metadata/x", "value": value}]
    )


@pytest.mark.parametrize(
    ("value", "target"),
    [
        (True, 1),
        (1, True),
        (False, 0),
        (0, False),
        (None, False),
        ("1", 1),
        ([1], [1, 1]),
        ({}, []),
    ],
)
def test_test_failure_is_test_failed(value: Any, target: Any) -> None:
    """A boolean is not a number, a string not a number: a mismatch is test_failed."""
    error = refused(
        "test_failed",
        {"metadata": {"x": target}},
        [{"op": "test", "path": "/metadata/x", "value": value}],
    )
    assert error.details == {"index": 0}


@pytest.mark.parametrize(
    "path", ["/metadata/missing", "/metadata/color/x", "/recurrence/5", "/metadata/tags/2"]
)
def test_test_on_a_missing_target_is_test_failed(path: str) -> None:
    """A test asserting a value at a well-formed path that names nothing fails as a test."""
    refused("test_failed", document(), [{"op": "test", "path": path, "value": None}])


@pytest.mark.parametrize(
    "op",
    [
        {"op": "test", "path": "/recurrence/01", "value": "x"},
        {"op": "test", "path": "/recurrence/-", "value": "x"},
        {"op": "test", "path": "/recurrence/1e0", "value": "x"},
        {"op": "replace", "path": "/recurrence/-", "value": "x"},
        {"op": "remove", "path": "/recurrence/-"},
        {"op": "remove", "path": "/recurrence/00"},
        {"op": "add", "path": "/recurrence/01", "value": "x"},
        {"op": "add", "path": "/recurrence/+1", "value": "x"},
        {"op": "add", "path": "/recurrence/ 1", "value": "x"},
        {"op": "add", "path": "/recurrence/\u0661", "value": "x"},
        {"op": "add", "path": "/recurrence/3", "value": "x"},
        {"op": "add", "path": "/recurrence/-1", "value": "x"},
        {"op": "move", "from": "/recurrence/-", "path": "/metadata/x"},
        {"op": "copy", "from": "/recurrence/2", "path": "/metadata/x"},
        {"op": "remove", "path": "/metadata/nope"},
        {"op": "remove", "path": "/metadata/nope/deeper"},
        {"op": "replace", "path": "/metadata/nope", "value": 1},
        {"op": "add", "path": "/metadata/nope/deeper", "value": 1},
        {"op": "add", "path": "/title/x", "value": 1},
        {"op": "move", "from": "/metadata/nope", "path": "/metadata/x"},
        {"op": "move", "from": "/metadata/nope", "path": "/metadata/nope"},
    ],
)
def test_application_failures_are_invalid_patch(op: dict[str, Any]) -> None:
    """Bad indices, '-' misuse and missing targets are invalid_patch, never test_failed."""
    refused("invalid_patch", document(), [op])


def test_add_at_array_end_index_appends() -> None:
    """An index equal to the array length appends, like '-'."""
    result = apply_ops(document(), [{"op": "add", "path": "/recurrence/2", "value": "x"}])
    assert result["recurrence"][-1] == "x"


def test_move_to_same_location_is_a_no_op() -> None:
    """Moving a value onto itself changes nothing."""
    ops = [{"op": "move", "from": "/metadata/color", "path": "/metadata/color"}]
    assert apply_ops(document(), ops) == document()


def test_copies_that_grow_without_bound_are_refused() -> None:
    """Doubling metadata by copying it into itself is stopped long before memory runs out."""
    ops = [{"op": "copy", "from": "/metadata", "path": f"/metadata/k{i}"} for i in range(MAX_OPS)]
    refused("invalid_patch", document(description="x" * 10_000), ops)


def test_pointer_escapes_round_trip() -> None:
    """'~' is escaped before '/', and '~01' unescapes to '~1', not '/'."""
    assert escape("a/b~c") == "a~1b~0c"
    assert unescape("~01") == "~1"
    assert parse_pointer("/metadata/a~1b/~0~1") == ("metadata", "a/b", "~/")
    assert parse_pointer("/metadata/") == ("metadata", "")
    for key in ["", "~", "/", "~1", "~0/", "a/~b", "~~//"]:
        assert unescape(escape(key)) == key


# --- touched_paths and paths_overlap ---------------------------------------------------


def test_touched_paths_include_from_and_tests() -> None:
    """Every path and every move/copy source is touched, tests included."""
    ops = [
        {"op": "test", "path": "/title", "value": "x"},
        {"op": "move", "from": "/metadata/a~1b", "path": "/metadata/c"},
        {"op": "copy", "from": "/location", "path": "/metadata/d"},
        {"op": "remove", "path": "/recurrence/0"},
    ]
    assert touched_paths(ops) == [
        ("title",),
        ("metadata", "c"),
        ("metadata", "a/b"),
        ("metadata", "d"),
        ("location",),
        ("recurrence", "0"),
    ]


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        (("title",), ("title",), True),
        (("metadata",), ("metadata", "color"), True),
        (("metadata", "a", "b"), ("metadata", "a"), True),
        (("title",), ("description",), False),
        (("metadata", "color"), ("metadata", "size"), False),
        (("metadata", "a", "x"), ("metadata", "b", "x"), False),
        (("recurrence", "0"), ("recurrence", "2"), True),
        (("recurrence", "-"), ("recurrence", "0"), True),
        (("metadata", "tags", "0", "name"), ("metadata", "tags", "3", "name"), True),
        (("metadata", "tags", "0"), ("metadata", "tags", "x"), False),
        ((), ("title",), True),
    ],
)
def test_paths_overlap(a: tuple[str, ...], b: tuple[str, ...], overlap: bool) -> None:
    """Prefixes overlap, and so do array siblings (an insert shifts the others)."""
    assert paths_overlap(a, b) is overlap
    assert paths_overlap(b, a) is overlap
