"""The patch rules of the wire contract: RFC 6902 JSON Patch on an event document.

Pure functions, no I/O. The six operations are implemented here rather than taken
from the `jsonpatch` library: the contract needs errors that say *which* op failed
and whether it was a failed `test` (`test_failed`) or anything else
(`invalid_patch`), and the library reports a malformed array index inside a `test`
as a failed test. The rules follow RFC 6902 and RFC 6901 and are checked against the
public json-patch-tests suite (tests/storage/test_patch_conformance.py).
"""

from __future__ import annotations

import re
from typing import Any

from storage.document import DOCUMENT_FIELDS, escape
from storage.errors import ErrorCode, TandemError
from storage.json_values import json_copy

# A patch may touch only the document fields, never /id, /version and the like.
PATCHABLE_ROOTS = frozenset(DOCUMENT_FIELDS)
MAX_OPS = 100
# A JSON value nested deeper than this is refused: equality, copy and diff recurse.
MAX_VALUE_DEPTH = 100
# Copies can double the document with each op (copy /metadata to /metadata/x);
# 100 such ops would exhaust memory long before validation sees the result, so the
# bytes copied within one patch are bounded far above any valid document.
MAX_COPIED_BYTES = 1 << 20

_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
_VALUE_OPS = frozenset({"add", "replace", "test"})
_FROM_OPS = frozenset({"move", "copy"})
_INDEX = re.compile(r"0|[1-9][0-9]*")  # RFC 6901: no sign, no leading zero, ASCII only
_BAD_ESCAPE = re.compile(r"~(?![01])")


class _Refused(Exception):
    """An operation cannot be applied (becomes `invalid_patch`)."""


class _Missing(_Refused):
    """A well-formed pointer names nothing (a `test` there is a failed test)."""


def unescape(token: str) -> str:
    """RFC 6901 unescaping: "~1" before "~0", so "~01" becomes "~1" and not "/"."""
    return token.replace("~1", "/").replace("~0", "~")


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """The unescaped tokens of a JSON Pointer; ValueError when it is not one."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"JSON Pointer {pointer!r} must be empty or start with '/'")
    tokens = pointer[1:].split("/")
    if any(_BAD_ESCAPE.search(token) for token in tokens):
        raise ValueError(f"JSON Pointer {pointer!r} has a '~' not followed by 0 or 1")
    return tuple(unescape(token) for token in tokens)


def format_pointer(tokens: tuple[str, ...] | list[str]) -> str:
    return "".join("/" + escape(token) for token in tokens)


def json_equal(a: Any, b: Any) -> bool:
    """RFC 6902 4.6 equality: numbers by value (1 == 1.0), but a boolean is no number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return a is None and b is None


def is_json_value(value: Any) -> bool:
    """True for a JSON value (str-keyed objects, finite numbers) of bounded depth."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_VALUE_DEPTH:
            return False
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return False
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return False
        elif not (item is None or isinstance(item, str | int)):
            return False
    return True


def _invalid(index: int, message: str) -> TandemError:
    return TandemError(ErrorCode.INVALID_PATCH, f"operation {index}: {message}", {"index": index})


def _document_path(op: dict[str, Any], member: str, index: int) -> tuple[str, ...]:
    pointer = op.get(member)
    if not isinstance(pointer, str):
        raise _invalid(index, f"'{member}' must be a JSON Pointer string")
    try:
        tokens = parse_pointer(pointer)
    except ValueError as exc:
        raise _invalid(index, str(exc)) from None
    # The root and server fields (/id, /version, ...) are not the client's to change.
    if not tokens or tokens[0] not in PATCHABLE_ROOTS:
        raise _invalid(index, f"'{member}' {pointer!r} is not inside an event document field")
    return tokens


def check_op(op: object, index: int) -> None:
    """Refuse (`invalid_patch`) anything that is not a valid RFC 6902 op on the document."""
    if not isinstance(op, dict):
        raise _invalid(index, "an operation must be an object")
    kind = op.get("op")
    if not isinstance(kind, str) or kind not in _OPS:
        raise _invalid(index, f"unknown op {kind!r}")
    path = _document_path(op, "path", index)
    if kind in _VALUE_OPS:
        if "value" not in op:
            raise _invalid(index, f"'{kind}' needs a 'value'")
        if not is_json_value(op["value"]):
            raise _invalid(index, "'value' is not a JSON value (or is nested too deeply)")
    if kind in _FROM_OPS:
        source = _document_path(op, "from", index)
        if kind == "move" and len(source) < len(path) and path[: len(source)] == source:
            raise _invalid(index, "cannot move a value into one of its own children")


def check_ops(ops: object) -> list[dict[str, Any]]:
    """Validate a whole patch before anything is applied; returns it unchanged."""
    if not isinstance(ops, list) or not ops:
        raise TandemError(ErrorCode.INVALID_PATCH, "ops must be a non-empty array of operations")
    if len(ops) > MAX_OPS:
        raise TandemError(
            ErrorCode.TOO_LARGE, f"a patch has at most {MAX_OPS} operations", {"limit": MAX_OPS}
        )
    for index, op in enumerate(ops):
        check_op(op, index)
    return ops


# --- application -----------------------------------------------------------------


def _array_index(token: str, length: int, *, append: bool) -> int:
    """The index a token names in an array of `length` ("-" only where appending)."""
    if token == "-":
        if append:
            return length
        raise _Refused("'-' names no existing array element")
    if not _INDEX.fullmatch(token):
        raise _Refused(f"{token!r} is not an array index")
    index = int(token)
    if index > (length if append else length - 1):
        raise _Missing(f"array index {index} is out of range")
    return index


def _resolve(document: Any, tokens: tuple[str, ...]) -> Any:
    node = document
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise _Missing(f"{format_pointer(tokens)!r} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(token, len(node), append=False)]
        else:
            raise _Missing(f"{format_pointer(tokens)!r} does not exist")
    return node


def _add(document: Any, tokens: tuple[str, ...], value: Any) -> None:
    parent, last = _resolve(document, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(last, len(parent), append=True), value)
    else:
        raise _Refused(f"the parent of {format_pointer(tokens)!r} is not a container")


def _remove(document: Any, tokens: tuple[str, ...]) -> Any:
    parent, last = _resolve(document, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _Missing(f"{format_pointer(tokens)!r} does not exist")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_array_index(last, len(parent), append=False))
    raise _Missing(f"{format_pointer(tokens)!r} does not exist")


def _approximate_size(value: Any, limit: int) -> int:
    """Roughly the encoded size of a value, counting no further than `limit`."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, dict):
            total += 2 + sum(len(key) + 4 for key in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += len(item) + 2 if isinstance(item, str) else 8
    return total


def _apply_one(document: dict[str, Any], op: dict[str, Any], copy_budget: list[int]) -> None:
    kind, path = op["op"], parse_pointer(op["path"])
    if kind == "add":
        _add(document, path, json_copy(op["value"]))
    elif kind == "remove":
        _remove(document, path)
    elif kind == "replace":
        parent, last = _resolve(document, path[:-1]), path[-1]
        if isinstance(parent, list):
            parent[_array_index(last, len(parent), append=False)] = json_copy(op["value"])
        elif isinstance(parent, dict) and last in parent:  # keeps the key's position
            parent[last] = json_copy(op["value"])
        else:
            raise _Missing(f"{op['path']!r} does not exist")
    elif kind == "move":
        source = parse_pointer(op["from"])
        if source == path:
            _resolve(document, source)  # still an error when "from" does not exist
            return
        _add(document, path, _remove(document, source))
    elif kind == "copy":
        value = _resolve(document, parse_pointer(op["from"]))
        copy_budget[0] -= _approximate_size(value, copy_budget[0])
        if copy_budget[0] < 0:
            raise _Refused("the patch copies too much data")
        _add(document, path, json_copy(value))
    elif not json_equal(_resolve(document, path), op["value"]):  # "test"
        raise _Missing(f"{op['path']!r} does not hold the tested value")


def apply_ops(document: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply a patch to a copy of the document, atomically; the input is never mutated.

    Each op is checked again (`check_op`), so this is safe on its own; the list rules
    (non-empty, at most MAX_OPS) belong to `check_ops`. A `test` whose target differs
    or does not exist is `test_failed`; a malformed index in it is `invalid_patch`.
    """
    result = json_copy(document)
    copy_budget = [MAX_COPIED_BYTES]
    for index, op in enumerate(ops):
        check_op(op, index)
        try:
            _apply_one(result, op, copy_budget)
        except _Missing as exc:
            if op["op"] == "test":
                message = f"operation {index}: {exc}"
                raise TandemError(ErrorCode.TEST_FAILED, message, {"index": index}) from None
            raise _invalid(index, str(exc)) from None
        except _Refused as exc:
            raise _invalid(index, str(exc)) from None
        except RecursionError:
            raise _invalid(index, "the document is nested too deeply") from None
    return result


# --- rebase ------------------------------------------------------------------------


def touched_paths(ops: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The token paths a (checked) patch depends on, for rebase conflict detection.

    Every op's "path", and "from" for move and copy. Conservative on purpose: a
    `test` writes nothing but asserts state a concurrent change may have altered, and
    a copy's result depends on its source, so both count as touching what they read.
    """
    paths: list[tuple[str, ...]] = []
    for op in ops:
        paths.append(parse_pointer(op["path"]))
        if op["op"] in _FROM_OPS:
            paths.append(parse_pointer(op["from"]))
    return paths


def _array_like(token: str) -> bool:
    return token == "-" or (token.isascii() and token.isdigit())


def paths_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True when a change at one path may affect the other.

    That is when one is a prefix of the other (equal included), or when they first
    differ at two array-like tokens (digits or "-") under the same parent: an insert
    or remove at one array index shifts its siblings. The document is not known
    here, so a numeric object key is treated like an index (a false conflict at worst).
    """
    for x, y in zip(a, b, strict=False):
        if x != y:
            return _array_like(x) and _array_like(y)
    return True
