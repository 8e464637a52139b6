"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes everywhere.

    SQLite stores no offset, so values are written as naive UTC there and given
    back aware; PostgreSQL uses timestamptz and is normalised to UTC on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None or (value.__class__ is datetime and value.tzinfo is UTC):
            return value  # asyncpg's timestamptz, as it is read hundreds of times a listing
        if isinstance(value, str):  # SQLite under raw SQL hands back text
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_text(value: datetime | None) -> str | None:
    """An aware datetime as SQLite stores it: naive UTC in SQLAlchemy's own DATETIME
    text, which stored times are compared with. One step instead of this type's and
    then SQLAlchemy's (a live edit binds about ten times)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )


# JSONB on PostgreSQL (smaller, indexable), plain JSON text on SQLite.
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")
