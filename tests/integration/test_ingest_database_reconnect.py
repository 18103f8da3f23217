"""The de-duplication store on PostgreSQL: after the server dropped the pool's connections
(a restart), and when the server refuses a lookup.

The pool checks nothing with a round trip when a connection is checked out: a connection
the server closed is replaced from the driver's own state, so the first lookup after a
restart is answered, not failed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from services.ingest.dedup import SeenStore
from shared.storage.engine import create_engine

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def test_a_lookup_after_the_server_dropped_every_pooled_connection_is_answered(
    database_url: str, asyncpg_dsn: str
) -> None:
    engine = create_engine(database_url)
    store = SeenStore(engine, lambda: NOW)
    published = uuid.uuid4()
    try:
        store.remember([(published, "generic")])
        await store.flush()
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()

        admin = await asyncpg.connect(asyncpg_dsn)
        try:
            # With a timeout, it returns once the backend has exited (its socket closed).
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
            assert not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid
            )
        finally:
            await admin.close()

        fresh = SeenStore(engine, lambda: NOW)  # nothing in memory: the table answers
        assert await fresh.seen([published, uuid.uuid4()]) == {published}
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
    finally:
        await engine.dispose()


async def test_a_server_error_in_a_lookup_is_raised_as_a_database_error(
    database_url: str,
) -> None:
    """What the webhook route counts as "de-duplication unavailable" (and publishes anyway)."""
    engine = create_async_engine(
        database_url, connect_args={"server_settings": {"search_path": "no_such_schema"}}
    )
    store = SeenStore(engine, lambda: NOW)
    try:
        with pytest.raises(OperationalError, match="UndefinedTableError"):
            await store.seen([uuid.uuid4()])
    finally:
        await engine.dispose()
