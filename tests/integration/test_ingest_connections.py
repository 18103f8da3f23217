"""The de-duplication store's own connections, on a real PostgreSQL: reused, replaced when
the server closed them or a statement failed or was cancelled, never more than their slots."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from sqlalchemy.exc import OperationalError

from services.ingest.connections import DriverConnections, connect_options
from shared.storage.engine import create_engine

pytestmark = pytest.mark.integration

# The backends of one test's connections, told apart by their application name.
_BACKENDS = """
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = $1
"""


@dataclass
class Connections:
    pool: DriverConnections
    name: str
    admin_dsn: str

    async def backends(self, *, running: str = "") -> list[int]:
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            query = _BACKENDS + (" AND query LIKE $2" if running else "")
            args = (self.name, running + "%") if running else (self.name,)
            return [row["pid"] for row in await admin.fetch(query, *args)]
        finally:
            await admin.close()


@pytest.fixture
async def connections(database_url: str, asyncpg_dsn: str) -> AsyncIterator[Connections]:
    engine = create_engine(database_url)
    options = connect_options(engine)
    await engine.dispose()
    name = f"vigie-test-{uuid.uuid4().hex[:12]}"
    options["server_settings"] = {"application_name": name}
    pool = DriverConnections(options, size=2)
    try:
        yield Connections(pool, name, asyncpg_dsn)
    finally:
        await pool.close()


async def terminate(asyncpg_dsn: str, pids: list[int]) -> None:
    admin = await asyncpg.connect(asyncpg_dsn)
    try:
        for pid in pids:
            # With a timeout, it returns once the backend has exited (its socket closed).
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
    finally:
        await admin.close()


async def test_sequential_statements_reuse_one_connection(connections: Connections) -> None:
    pids = {tuple(await connections.pool.fetch_column("SELECT pg_backend_pid()")) for _ in range(5)}
    assert len(pids) == 1
    assert await connections.backends() == [pids.pop()[0]]


async def test_concurrent_statements_open_no_more_connections_than_slots(
    connections: Connections,
) -> None:
    sleepy = "SELECT pg_backend_pid() FROM pg_sleep(0.05)"
    results = await asyncio.gather(*(connections.pool.fetch_column(sleepy) for _ in range(6)))
    assert len({pid for (pid,) in results}) == 2
    assert len(await connections.backends()) == 2


async def test_a_connection_the_server_closed_is_replaced_on_the_next_statement(
    connections: Connections,
) -> None:
    (before,) = await connections.pool.fetch_column("SELECT pg_backend_pid()")
    await terminate(connections.admin_dsn, [before])
    (after,) = await connections.pool.fetch_column("SELECT pg_backend_pid()")
    assert after != before


async def test_a_failed_statement_raises_a_database_error_and_the_next_one_runs(
    connections: Connections,
) -> None:
    with pytest.raises(OperationalError, match="UndefinedTableError"):
        await connections.pool.fetch_column("SELECT 1 FROM no_such_table")
    assert await connections.pool.fetch_column("SELECT $1::int", 7) == [7]


async def test_a_cancelled_statement_closes_its_connection(connections: Connections) -> None:
    (first,) = await connections.pool.fetch_column("SELECT pg_backend_pid()")
    slow = asyncio.create_task(connections.pool.execute("SELECT pg_sleep(30)"))
    while not await connections.backends(running="SELECT pg_sleep"):
        await asyncio.sleep(0.01)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    (second,) = await connections.pool.fetch_column("SELECT pg_backend_pid()")
    assert second != first  # the cancelled statement's connection was not put back


async def test_statements_after_close_are_refused(connections: Connections) -> None:
    await connections.pool.execute("SELECT 1")
    await connections.pool.close()
    with pytest.raises(OperationalError, match="closed"):
        await connections.pool.execute("SELECT 1")


async def test_a_database_that_cannot_be_reached_is_a_database_error() -> None:
    pool = DriverConnections({"host": "127.0.0.1", "port": 1, "user": "nobody"}, size=1)
    with pytest.raises(OperationalError):
        await pool.execute("SELECT 1")
    await pool.close()
