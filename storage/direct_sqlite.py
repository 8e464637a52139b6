"""SQLAlchemy Core statements compiled once for a bare sqlite3 connection.

The edit engine's writes (storage/edit_sql.py) and the one-row reads of every socket
and request (storage/point_reads.py) run on sqlite3 in the event loop's own thread,
where aiosqlite's hop to its thread and back would cost more than the statement. They
keep SQLAlchemy's conversions of parameters and result columns (times, JSON), so a row
read here is the row SQLAlchemy would have given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class DirectStatement:
    """A statement compiled for a DB-API connection, with SQLAlchemy's own conversions of
    its parameters and result columns (the ones SQLAlchemy would apply)."""

    sql: str
    names: tuple[str, ...]
    binders: tuple[Callable[[Any], Any] | None, ...]
    keys: tuple[str, ...]
    loaders: tuple[Callable[[Any], Any] | None, ...]

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        return [
            params[name] if bind is None else bind(params[name])
            for name, bind in zip(self.names, self.binders, strict=True)
        ]

    def row(self, values: Sequence[Any]) -> dict[str, Any]:
        return {
            key: value if load is None else load(value)
            for key, load, value in zip(self.keys, self.loaders, values, strict=True)
        }


@cache  # statements are built once per shape, so this stays small
def direct_statement(statement: sa.ClauseElement, dialect: Dialect) -> DirectStatement:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
    names = tuple(compiled.positiontup)
    binds = compiled._bind_processors
    columns = compiled._result_columns
    return DirectStatement(
        str(compiled),
        names,
        tuple(cast(Callable[[Any], Any] | None, binds.get(name)) for name in names),
        tuple(column.keyname for column in columns),
        tuple(column.type._cached_result_processor(dialect, None) for column in columns),
    )
