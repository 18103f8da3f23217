"""Idempotent writes that work on PostgreSQL and SQLite alike.

On PostgreSQL, many rows go as one statement of fixed text: each column travels as one
array and ``unnest`` turns the arrays back into rows. SQLAlchemy would send
``conn.execute(insert(table), rows)`` to asyncpg as an executemany: one round trip, but the
server binds and executes the statement once per row (40-80 µs each for the router's
tables), and SQLAlchemy processes every row's parameters on the way. One statement text
whatever the number of rows also means that asyncpg prepares it once per connection.

Strings travel as ``text[]``: an explicit cast to ``varchar(n)`` would truncate a value that
an insert rejects. JSON travels as text, serialised as SQLAlchemy would, cast by the server.
SQLite keeps SQLAlchemy's executemany.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeEngine


async def insert_ignore(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """Insert unless a unique key already holds the row; True when this call inserted it."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two dialects above are supported
        raise NotImplementedError(dialect)
    result = await conn.execute(stmt)
    return bool(result.rowcount)


async def insert_ignore_many(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]
) -> None:
    """Insert many rows in one statement, skipping those whose unique key exists."""
    if not rows:
        return
    if await _insert_unnest(conn, table, rows, "ignore") is not None:
        return
    await conn.execute(_insert(conn, table).on_conflict_do_nothing(), rows)


def _insert(conn: AsyncConnection, table: Table) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(dialect)  # pragma: no cover - only the two dialects above


async def insert_many(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in one statement; a unique key already held raises IntegrityError."""
    if not rows:
        return
    if await _insert_unnest(conn, table, rows, "raise") is not None:
        return
    await conn.execute(table.insert(), rows)


async def insert_ignore_returning(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], *, key: str
) -> set[Any]:
    """``insert_ignore_many`` that says which rows it inserted: their ``key`` values."""
    if not rows:
        return set()
    result = await _insert_unnest(conn, table, rows, "ignore", returning=key)
    if result is None:
        stmt = _insert(conn, table).on_conflict_do_nothing().returning(table.c[key])
        result = await conn.execute(stmt, rows)
    return set(result.scalars().all())


async def insert_or_move_earlier(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], *, key: str, column: str
) -> None:
    """Insert each row; where its ``key`` exists, move ``column`` earlier (never later) to the
    row's value, with the row's ``updated_at``. Rows must not repeat a ``key``."""
    if not rows:
        return
    if await _insert_unnest(conn, table, rows, "earlier", key=key, column=column) is not None:
        return
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={column: stmt.excluded[column], "updated_at": stmt.excluded.updated_at},
        where=table.c[column] > stmt.excluded[column],
    )
    await conn.execute(stmt, rows)


# --- PostgreSQL: the rows as arrays ---------------------------------------------------------


def _array_type(impl: TypeEngine[Any]) -> tuple[str, str] | None:
    """The array type a column's values travel in and the cast back, or None."""
    if isinstance(impl, sqltypes.JSON):
        return "text[]", "::jsonb" if impl.__visit_name__.upper() == "JSONB" else "::json"
    if isinstance(impl, sqltypes.String):
        return "text[]", ""
    if isinstance(impl, sqltypes.Boolean):
        return "boolean[]", ""
    if isinstance(impl, sqltypes.BigInteger):
        return "bigint[]", ""
    if isinstance(impl, sqltypes.SmallInteger):
        return "smallint[]", ""
    if isinstance(impl, sqltypes.Integer):
        return "integer[]", ""
    if isinstance(impl, sqltypes.DateTime):
        return ("timestamptz[]" if impl.timezone else "timestamp[]"), ""
    if isinstance(impl, sqltypes.Date):
        return "date[]", ""
    if isinstance(impl, sqltypes.Float):
        return "float8[]", ""
    return None


@dataclass(frozen=True, slots=True)
class _Unnest:
    sql: str
    # What SQLAlchemy would do to each column's values before sending them (JSON: serialise).
    processors: tuple[Callable[[Any], Any] | None, ...]


def _on_conflict(
    table: Table, mode: str, key: str | None, column: str | None, quote: Callable[[str], str]
) -> str:
    if mode == "raise":
        return ""
    if mode == "ignore":
        return " ON CONFLICT DO NOTHING"
    if mode != "earlier" or key is None or column is None:
        raise ValueError(f"unknown conflict mode {mode!r}")
    moved = quote(column)
    return (
        f" ON CONFLICT ({quote(key)}) DO UPDATE SET {moved} = excluded.{moved},"
        f" updated_at = excluded.updated_at WHERE {quote(table.name)}.{moved} > excluded.{moved}"
    )


@lru_cache(maxsize=128)
def _unnest_statement(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    mode: str,
    key: str | None,
    column: str | None,
    returning: str | None,
) -> _Unnest | None:
    """The statement inserting ``columns`` of ``table`` from one array each; None when a
    column's type has no array form here (the caller then uses an executemany)."""
    preparer = dialect.identifier_preparer
    params, selected, processors = [], [], []
    for position, name in enumerate(columns, start=1):
        impl = table.c[name].type.dialect_impl(dialect)
        array = _array_type(impl)
        if array is None:
            return None
        array_type, cast = array
        params.append(f"${position}::{array_type}")
        selected.append(f"v.{preparer.quote(name)}{cast}")
        processors.append(impl.bind_processor(dialect))
    names = ", ".join(preparer.quote(name) for name in columns)
    sql = (
        f"INSERT INTO {preparer.format_table(table)} ({names})"
        f" SELECT {', '.join(selected)} FROM unnest({', '.join(params)}) AS v({names})"
        + _on_conflict(table, mode, key, column, preparer.quote)
        + (f" RETURNING {preparer.quote(returning)}" if returning else "")
    )
    return _Unnest(sql, tuple(processors))


def _arrays(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[list[Any]]:
    """One list per column, in the order of ``names``; every row must have those keys, as an
    executemany requires."""
    columns: list[list[Any]] = [[] for _ in names]
    expected = set(names)
    for row in rows:
        if row.keys() != expected:
            raise ValueError(f"rows of one statement differ in their columns: {sorted(row)}")
        for values, name in zip(columns, names, strict=True):
            values.append(row[name])
    return columns


async def _insert_unnest(
    conn: AsyncConnection,
    table: Table,
    rows: list[dict[str, Any]],
    mode: str,
    *,
    key: str | None = None,
    column: str | None = None,
    returning: str | None = None,
) -> CursorResult[Any] | None:
    """``rows`` inserted as one statement on PostgreSQL; None, having written nothing,
    elsewhere or when a column's type has no array form."""
    if conn.dialect.name != "postgresql":
        return None
    names = tuple(rows[0])
    statement = _unnest_statement(conn.dialect, table, names, mode, key, column, returning)
    if statement is None:
        return None
    arrays = [
        values if processor is None else [processor(value) for value in values]
        for processor, values in zip(statement.processors, _arrays(rows, names), strict=True)
    ]
    return await conn.exec_driver_sql(statement.sql, tuple(arrays))
