"""JSON columns are written and read by msgspec, and by the standard library for what
msgspec refuses (a lone surrogate, which no client body can carry, as the decoders
refuse it, but which Python strings can hold)."""

from __future__ import annotations

import json

import pytest

from storage.json_columns import read_json, write_json

VALUES = [
    {},
    [],
    ["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE:20260302T080000Z"],
    {"note": "café, 会議, \u2028 and \U0001f600", "n": 10**30, "f": 0.1, "none": None},
    {"nested": {"deep": [1, [2, [3, {"x": True}]]]}},
]


@pytest.mark.parametrize("value", VALUES)
def test_values_come_back_equal_and_any_json_reader_agrees(value: object) -> None:
    text = write_json(value)
    assert read_json(text) == value
    assert json.loads(text) == value


def test_a_lone_surrogate_goes_the_standard_librarys_way() -> None:
    value = {"note": "half \ud83d of a pair"}
    text = write_json(value)
    assert text == json.dumps(value)
    assert read_json(text) == value
