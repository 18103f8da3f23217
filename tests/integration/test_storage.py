"""Migrations apply on PostgreSQL and the pipeline's writes are idempotent there."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from alembic.script import ScriptDirectory

from shared.storage.engine import create_engine
from shared.storage.migrate import alembic_config
from shared.storage.tables import deliveries, metadata
from shared.storage.writes import insert_ignore

pytestmark = pytest.mark.integration

TABLES = set(metadata.tables)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


async def test_migrations_create_every_table(asyncpg_dsn: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()
    assert {r["tablename"] for r in rows} >= TABLES
    assert version == head_revision()


async def test_insert_ignore_writes_a_unique_key_once(database_url: str) -> None:
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    row = {
        "idempotency_key": "case-1:notify:team:1",
        "case_id": "00000000-0000-0000-0000-000000000001",
        "receiver": "team",
        "channel": "webhook",
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "trace_id": "t",
    }
    try:
        async with engine.begin() as conn:
            first = await insert_ignore(conn, deliveries, row)
            second = await insert_ignore(conn, deliveries, row)
        async with engine.connect() as conn:
            count = (
                await conn.execute(
                    deliveries.select().where(
                        deliveries.c.idempotency_key == row["idempotency_key"]
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert (first, second) == (True, False)
    assert len(count) == 1


async def test_only_one_open_case_per_group(asyncpg_dsn: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn)
    insert = (
        "INSERT INTO cases (id, group_key, status, severity, labels, route, policy_version,"
        " opened_by, opened_at, updated_at, trace_id)"
        " VALUES ($1, 'g', $2, 'high', '[]', 'r', 'v', $3, now(), now(), 't')"
    )
    try:
        await conn.execute(insert, "c1", "open", "o1")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, "c2", "open", "o2")
        await conn.execute("UPDATE cases SET status = 'resolved' WHERE id = 'c1'")
        await conn.execute(insert, "c3", "open", "o3")
    finally:
        await conn.close()


async def test_the_migrations_build_exactly_the_declared_tables(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.engine import Connection

    from shared.storage.tables import metadata

    def differences(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(differences)
    finally:
        await engine.dispose()
    assert diff == []
