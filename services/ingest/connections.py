"""A few connections of the driver's own, for the de-duplication statements.

A webhook runs one lookup and part of one write. Checking a connection out of SQLAlchemy's
pool costs more CPU than those statements do, and so does the driver's own pool: its
acquire and release took about 30 µs of CPU against 20 µs for the lookup itself. The store
never runs more statements at once than it has slots for, so a list of idle connections
under a semaphore is all the pooling it needs: an idle connection is taken and put back,
its statements prepared once.

Connections are opened lazily, so a database that is down at start-up fails the first
statement, not the process. A connection the server closed is replaced when it is next
taken; one whose statement failed or was cancelled is closed (its state is unknown) and the
next statement opens a fresh one. The driver's errors are raised as SQLAlchemy's
``OperationalError``, as every other database error reaches the callers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

# URL query options that SQLAlchemy's dialect reads and the driver does not accept.
_DIALECT_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback")
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


def connect_options(engine: AsyncEngine) -> dict[str, Any]:
    """What ``asyncpg.connect`` needs to reach the engine's database."""
    _args, options = engine.dialect.create_connect_args(engine.url)
    for key in _DIALECT_ONLY:
        options.pop(key, None)
    return dict(options)


class DriverConnections:
    """At most ``size`` connections, each running one statement at a time."""

    def __init__(self, options: dict[str, Any], *, size: int) -> None:
        self._options = options
        self._slots = asyncio.Semaphore(max(1, size))
        self._idle: list[asyncpg.Connection] = []
        self._closed = False

    @staticmethod
    def for_engine(engine: AsyncEngine, *, size: int) -> DriverConnections | None:
        """Connections for PostgreSQL engines; None for the others (SQLite)."""
        if engine.dialect.driver != "asyncpg":
            return None
        return DriverConnections(connect_options(engine), size=size)

    async def fetch_column(self, sql: str, *args: Any) -> list[Any]:
        """The first column of every row the statement returns."""
        rows = await self._run(sql, args, fetch=True)
        return [row[0] for row in rows]

    async def execute(self, sql: str, *args: Any) -> None:
        """One statement, committed on its own (no BEGIN / COMMIT round trips)."""
        await self._run(sql, args, fetch=False)

    async def _run(self, sql: str, args: tuple[Any, ...], *, fetch: bool) -> Any:
        async with self._slots:
            if self._closed:
                raise OperationalError(sql, None, OSError("connections closed"))
            conn = self._idle.pop() if self._idle else None
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(**self._options)
                result = await (conn.fetch(sql, *args) if fetch else conn.execute(sql, *args))
            except BaseException as exc:
                if conn is not None:
                    conn.terminate()  # failed or cancelled mid-statement: its state is unknown
                if isinstance(exc, _DRIVER_ERRORS):
                    raise OperationalError(sql, None, exc) from exc
                raise
            if self._closed:
                await conn.close()
            else:
                self._idle.append(conn)
            return result

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=5)
            except (*_DRIVER_ERRORS, TimeoutError):
                conn.terminate()
