"""Query predicates that work on PostgreSQL and SQLite alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam


def among(dialect: str, column: ColumnElement[Any], values: list[Any]) -> ColumnElement[bool]:
    """``column = ANY(:array)`` on PostgreSQL: one statement text whatever the number of
    values, so asyncpg prepares it once per connection (an ``IN`` list of each length is a
    statement of its own); ``IN`` elsewhere."""
    if dialect != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
