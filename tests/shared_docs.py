"""The team's shared documents beside the checkout (../shared): the contract and the
conformance data that some tests read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


def require_shared(path: Path, what: str) -> Path:
    """`path`, or a skip when it is missing; in CI (REQUIRE_SERVICES=1) a failure instead."""
    if path.exists():
        return path
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but {what} is missing at {path}")
    pytest.skip(f"{what.upper()} NOT CHECKED: {path} is missing")
