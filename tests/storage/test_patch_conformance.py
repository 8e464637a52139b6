"""The public JSON Patch test suite (json-patch-tests), run on an event's metadata.

Each enabled case whose `doc` is an object becomes a patch on `/metadata`: every
op's "path" and "from" X is rewritten to "/metadata" + X. The contract refuses an
empty ops array (invalid_patch), so empty-patch cases go through `apply_ops` only;
every other case goes through `check_ops` first, as the edit engine does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage.errors import TandemError
from storage.patching import apply_ops, check_ops
from tests.shared_docs import SHARED, require_shared

SUITE = SHARED / "conformance" / "json-patch-tests"
FILES = ("tests.json", "spec_tests.json")

BASE: dict[str, Any] = {
    "title": "Conformance",
    "description": "",
    "location": None,
    "start_time": "2026-03-02T08:00:00Z",
    "end_time": "2026-03-02T09:00:00Z",
    "timezone": "UTC",
    "all_day": False,
    "recurrence": [],
}


def load_cases() -> list[Any]:
    if not SUITE.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{SUITE} is missing"))]
    cases = []
    for name in FILES:
        records = json.loads((SUITE / name).read_text(encoding="utf-8"))
        for number, record in enumerate(records):
            if record.get("disabled") or "patch" not in record:
                continue  # disabled, or a comment-only record
            if not isinstance(record.get("doc"), dict):
                continue  # metadata is always an object
            label = f"{name}#{number}: {record.get('comment', record.get('error', ''))}"
            cases.append(pytest.param(record, id=label[:90]))
    return cases


def on_metadata(op: Any) -> Any:
    """Rewrite an op's pointers into the metadata field; malformed ones stay malformed."""
    if not isinstance(op, dict):
        return op
    moved = dict(op)
    for member in ("path", "from"):
        if isinstance(moved.get(member), str):
            moved[member] = "/metadata" + moved[member]
    return moved


def run(patch: list[Any], doc: dict[str, Any]) -> dict[str, Any]:
    ops = [on_metadata(op) for op in patch]
    if ops:
        check_ops(ops)
    return apply_ops({**BASE, "metadata": doc}, ops)


@pytest.mark.parametrize("case", load_cases())
def test_conformance(case: dict[str, Any]) -> None:
    """A suite case applied to metadata gives the expected metadata or is refused."""
    if "expected" in case:
        if not isinstance(case["expected"], dict):
            # The suite swaps the whole document for a non-object; metadata must stay
            # an object, so document validation refuses whatever this yields.
            try:
                result = run(case["patch"], case["doc"])
            except TandemError as error:
                assert error.code in ("invalid_patch", "test_failed")
            else:
                assert not isinstance(result["metadata"], dict)
            return
        result = run(case["patch"], case["doc"])
        assert result == {**BASE, "metadata": case["expected"]}
    else:
        with pytest.raises(TandemError) as info:
            run(case["patch"], case["doc"])
        assert info.value.code in ("invalid_patch", "test_failed"), info.value.message


def require_suite() -> None:
    """Skip without the suite beside the checkout; in CI (REQUIRE_SERVICES=1) fail instead."""
    require_shared(SUITE, "the JSON Patch suite")


def test_the_suite_is_present_and_large() -> None:
    """The suite runs enough cases that a silent loader bug cannot hide."""
    require_suite()
    assert len(load_cases()) >= 70
