"""Copies of JSON values: the documents, ops and metadata Tandem holds are plain dicts,
lists, strings, numbers, booleans and None, never anything else."""

from __future__ import annotations

from typing import Any


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value: every dict and list new, the rest shared (a string,
    number, boolean or None cannot change). Three to four times faster than
    copy.deepcopy, which keeps a memo and dispatches on every value: a live edit made
    two whole copies of its document (bench/READING.md)."""
    if type(value) is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if type(value) is list:
        return [json_copy(item) for item in value]
    return value
