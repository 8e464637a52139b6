"""UTCDateTime on SQLite writes exactly the text SQLAlchemy's own DATETIME would (stored
times are compared as text), in one step instead of two."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from storage.column_types import UTCDateTime

DIALECT = sqlite.dialect()
OURS = UTCDateTime().bind_processor(DIALECT)
SQLALCHEMYS = sa.DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    offset=st.integers(-14 * 60, 14 * 60),
)
@settings(max_examples=500, derandomize=True, database=None)
def test_the_text_is_sqlalchemys_for_any_instant_in_any_offset(
    moment: datetime, offset: int
) -> None:
    assert OURS is not None and SQLALCHEMYS is not None
    given_in = moment.astimezone(timezone(timedelta(minutes=offset)))
    assert OURS(given_in) == SQLALCHEMYS(moment.replace(tzinfo=None))


def test_none_passes_and_a_naive_time_is_refused() -> None:
    assert OURS is not None
    assert OURS(None) is None
    with pytest.raises(ValueError, match="naive"):
        OURS(datetime(2026, 3, 2, 8))
