"""A small asyncpg pool beside an engine's, for statements on a hot path.

Checking a connection out of SQLAlchemy's pool and back in (greenlet hand-offs, events, the
reset on return) costs more CPU than a one-row lookup itself. A webhook runs one such lookup
and part of one write, so the ingest service sends those two statements through this pool:
the driver's own, with its statements prepared once per connection. Everything else keeps
using the engine.

The pool connects lazily, so a database that is down at start-up fails the first statement,
not the process; a connection the server closed is replaced when it is next acquired. The
driver's errors are raised as SQLAlchemy's ``OperationalError``, as every other database
error reaches the callers.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

# URL query options that SQLAlchemy's dialect reads and the driver does not accept.
_DIALECT_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback")
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


class _StatelessConnection(asyncpg.Connection):  # type: ignore[misc]
    """The pool's statements leave no session state (no locks, cursors, settings or
    listeners), so a released connection needs no reset: a round trip saved per statement."""

    def get_reset_query(self) -> str:
        return ""


def connect_options(engine: AsyncEngine) -> dict[str, Any]:
    """What ``asyncpg.connect`` needs to reach the engine's database."""
    _args, options = engine.dialect.create_connect_args(engine.url)
    for key in _DIALECT_ONLY:
        options.pop(key, None)
    return dict(options)


class DriverPool:
    def __init__(self, engine: AsyncEngine, *, max_size: int) -> None:
        if engine.dialect.driver != "asyncpg":
            raise ValueError(f"a driver pool needs asyncpg, not {engine.dialect.driver}")
        self._options = connect_options(engine)
        self._max_size = max(1, max_size)
        self._pool: asyncpg.Pool | None = None

    @staticmethod
    def for_engine(engine: AsyncEngine, *, max_size: int) -> DriverPool | None:
        """A pool for PostgreSQL engines; None for the others (SQLite)."""
        if engine.dialect.driver != "asyncpg":
            return None
        return DriverPool(engine, max_size=max_size)

    async def _ready(self) -> asyncpg.Pool:
        if self._pool is None:
            pool = await asyncpg.create_pool(
                **self._options,
                min_size=0,
                max_size=self._max_size,
                connection_class=_StatelessConnection,
            )
            if self._pool is None:  # two first statements raced to create it
                self._pool = pool
            else:
                await pool.close()
        return self._pool

    async def fetch_column(self, sql: str, *args: Any) -> list[Any]:
        """The first column of every row the statement returns."""
        try:
            pool = await self._ready()
            async with pool.acquire() as conn:
                rows = await conn.fetch(sql, *args)
        except _DRIVER_ERRORS as exc:
            raise OperationalError(sql, None, exc) from exc
        return [row[0] for row in rows]

    async def execute(self, sql: str, *args: Any) -> None:
        """One statement, committed on its own (no BEGIN / COMMIT round trips)."""
        try:
            pool = await self._ready()
            async with pool.acquire() as conn:
                await conn.execute(sql, *args)
        except _DRIVER_ERRORS as exc:
            raise OperationalError(sql, None, exc) from exc

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
