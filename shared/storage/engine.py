"""Engine creation and the readiness probe.

A pooled PostgreSQL connection that the server closed (a restart, an idle timeout) is
replaced when it is checked out, from the driver's own state: no round trip per checkout
as ``pool_pre_ping`` would cost. A connection that dies unnoticed fails its statement; the
driver's error invalidates the pool, so the caller's retry gets fresh connections.
"""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _replace_closed(
    dbapi_connection: DBAPIConnection,
    _record: ConnectionPoolEntry,
    _proxy: PoolProxiedConnection,
) -> None:
    """Checkout hook: the pool swaps a connection the server has closed for a new one."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("the server closed this connection")


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, pool_size=pool_size)
    event.listen(engine.sync_engine, "checkout", _replace_closed)
    return engine


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return False
    return True
