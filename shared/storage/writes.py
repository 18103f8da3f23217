"""Idempotent writes that work on PostgreSQL and SQLite alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


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
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two dialects above are supported
        raise NotImplementedError(dialect)
    await conn.execute(stmt, rows)


def _insert(conn: AsyncConnection, table: Table) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(dialect)  # pragma: no cover - only the two dialects above


async def insert_many(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in one statement; a unique key already held raises IntegrityError."""
    if rows:
        await conn.execute(table.insert(), rows)


async def insert_ignore_returning(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], *, key: str
) -> set[Any]:
    """``insert_ignore_many`` that says which rows it inserted: their ``key`` values."""
    if not rows:
        return set()
    stmt = _insert(conn, table).on_conflict_do_nothing().returning(table.c[key])
    result = await conn.execute(stmt, rows)
    return set(result.scalars().all())


async def insert_or_move_earlier(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], *, key: str, column: str
) -> None:
    """Insert each row; where its ``key`` exists, move ``column`` earlier (never later) to the
    row's value, with the row's ``updated_at``."""
    if not rows:
        return
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={column: stmt.excluded[column], "updated_at": stmt.excluded.updated_at},
        where=table.c[column] > stmt.excluded[column],
    )
    await conn.execute(stmt, rows)
