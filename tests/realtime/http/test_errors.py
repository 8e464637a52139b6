"""The error table: every code has one HTTP status, the contract's, and no other code exists."""

from __future__ import annotations

import re

import pytest

from realtime.http.errors import HTTP_STATUS
from storage.errors import ErrorCode, TandemError
from tests.shared_docs import SHARED, require_shared

# A row of PROTOCOL.md's error table: | 409 | `username_taken`, `email_taken`, ... |
_TABLE_ROW = re.compile(r"^\| (\d{3}) \| (.*) \|$", re.MULTILINE)
_CODE = re.compile(r"`([a-z_]+)`")


def contract_statuses() -> dict[str, int]:
    """Each code the contract gives a status to, from its error table and the v1.1 sections."""
    text = require_shared(SHARED / "PROTOCOL.md", "the contract").read_text()
    statuses: dict[str, int] = {}
    for status, cell in _TABLE_ROW.findall(text):
        for code in _CODE.findall(cell):
            statuses.setdefault(code, int(status))
    # Codes that later sections introduce in prose: "is 410 `cursor_expired` (a new code)".
    for status, code in re.findall(r"\b(4\d\d|5\d\d) `([a-z_]+)`", text):
        statuses.setdefault(code, int(status))
    return statuses


def test_every_contract_code_has_the_contracts_status() -> None:
    """Each code the contract names is an ErrorCode answered with the contract's HTTP status."""
    statuses = contract_statuses()
    assert {"token_expired", "test_failed", "unsupported_media_type", "cursor_expired"} <= set(
        statuses
    )
    for code, status in statuses.items():
        assert HTTP_STATUS[ErrorCode(code)] == status, code


def test_every_error_code_has_a_status() -> None:
    """No ErrorCode is left to a default status: each one is mapped to a 4xx or 5xx."""
    for code in ErrorCode:
        assert 400 <= HTTP_STATUS[code] < 600, code
    assert ErrorCode("invalid_message") in HTTP_STATUS  # the WebSocket-only code too


def test_an_unknown_code_cannot_be_raised() -> None:
    """A code outside the table fails where the error is made, never reaching a client."""
    with pytest.raises(ValueError):
        TandemError("no_such_code", "nothing")  # type: ignore[arg-type]
    assert TandemError("not_found", "x").code is ErrorCode.NOT_FOUND  # type: ignore[arg-type]
