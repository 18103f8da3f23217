"""The de-duplication store on PostgreSQL: after the server dropped every connection (a
restart), and when the server refuses a lookup.

Nothing is checked with a round trip when a connection is taken from the pool: a connection
the server closed is replaced from the driver's own state, so the first lookup after a
restart is answered, not failed.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy.exc import OperationalError

from services.ingest.dedup import SeenStore
from shared.storage.engine import create_engine
from tests.databases import asyncpg_dsn as dsn_of
from tests.databases import create_database, drop_database

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

_OTHER_BACKENDS = """
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


async def terminate_other_backends(dsn: str) -> int:
    """What a server restart does to a client's connections; returns how many it closed."""
    admin = await asyncpg.connect(dsn)
    try:
        pids = [row["pid"] for row in await admin.fetch(_OTHER_BACKENDS)]
        for pid in pids:
            # With a timeout, it returns once the backend has exited (its socket closed).
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
        assert not await admin.fetch(_OTHER_BACKENDS)
    finally:
        await admin.close()
    return len(pids)


async def test_a_lookup_after_the_server_dropped_every_connection_is_answered(
    database_url: str, asyncpg_dsn: str
) -> None:
    engine = create_engine(database_url)
    store = SeenStore(engine, lambda: NOW)
    fresh = SeenStore(engine, lambda: NOW)  # nothing in memory: the table answers
    published = uuid.uuid4()
    try:
        store.remember([(published, "generic")])
        await store.flush()
        assert await fresh.seen([uuid.uuid4()]) == set()  # its connection is open, idle
        assert await terminate_other_backends(asyncpg_dsn) >= 1

        assert await fresh.seen([published, uuid.uuid4()]) == {published}
        store.remember([(uuid.uuid4(), "generic")])
        await store.flush()  # the writer's connection was replaced too
    finally:
        await store.stop()
        await fresh.stop()
        await engine.dispose()


async def test_a_server_error_in_a_lookup_is_raised_as_a_database_error() -> None:
    """What the webhook route counts as "de-duplication unavailable" (and publishes anyway)."""
    server = os.environ["VIGIE_DATABASE_URL"]
    url = await create_database(server, prefix="vigie_test_dedup")
    engine = create_engine(url)
    store = SeenStore(engine, lambda: NOW)
    try:
        admin = await asyncpg.connect(dsn_of(url))
        try:
            await admin.execute("DROP TABLE ingest_seen")
        finally:
            await admin.close()
        with pytest.raises(OperationalError, match="UndefinedTableError"):
            await store.seen([uuid.uuid4()])
    finally:
        await store.stop()
        await engine.dispose()
        await drop_database(server, url)
