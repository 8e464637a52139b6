"""json_copy copies a JSON value as copy.deepcopy did: equal, and sharing no dict or list
with the original, so that changing one never reaches the other."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.json_values import json_copy

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def _containers(value: Any) -> list[Any]:
    """Every dict and list in a JSON value, the value itself included."""
    if isinstance(value, dict):
        return [value, *(c for item in value.values() for c in _containers(item))]
    if isinstance(value, list):
        return [value, *(c for item in value for c in _containers(item))]
    return []


@settings(max_examples=300, derandomize=True)
@given(JSON)
def test_a_copy_is_equal_and_shares_no_container(value: Any) -> None:
    copied = json_copy(value)
    assert copied == value == copy.deepcopy(value)
    originals = {id(c) for c in _containers(value)}
    assert not originals & {id(c) for c in _containers(copied)}


def test_changing_the_copy_leaves_the_original_alone() -> None:
    document = {"metadata": {"tags": ["a"], "nested": {"n": 1}}, "recurrence": []}
    copied = json_copy(document)
    copied["metadata"]["tags"].append("b")
    copied["metadata"]["nested"]["n"] = 2
    copied["recurrence"].append("RRULE:FREQ=DAILY")
    assert document == {"metadata": {"tags": ["a"], "nested": {"n": 1}}, "recurrence": []}
