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
