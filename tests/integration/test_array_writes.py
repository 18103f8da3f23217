"""The multi-row writes on PostgreSQL (one ``unnest`` statement per call) store exactly what
SQLAlchemy's executemany stores, and keep its conflict semantics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.storage.engine import create_engine
from shared.storage.tables import audit_log, case_timers, cases, router_outbox
from shared.storage.writes import (
    insert_ignore_many,
    insert_ignore_returning,
    insert_many,
    insert_or_move_earlier,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def case_row(tag: str, n: int, **changes: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}:{n}")),
        "group_key": f"{tag}:{n}",
        "status": "open",
        "severity": "high",
        "labels": ["sensitive"],
        "route": "crisis",
        "policy_version": "v1",
        "opened_by": f"{tag}:opener:{n}",
        "opened_at": NOW,
        "updated_at": NOW,
        "trace_id": "trace",
        "categories": ["self_harm_intent", 'é "quoted"'],
        "opener": {"platform": "meta", "comment_id": f"c{n}", "revision": 1},
        "comment_url": None,
        "identity": None,  # JSON: stored as JSON null, as SQLAlchemy stores None
        "reopen_count": 0,
        "answer_due_at": None,
    } | changes


def audit_row(key: str, n: int) -> dict[str, Any]:
    return {
        "dedup_key": key,
        "at": NOW + timedelta(seconds=n),
        "actor": "router",
        "action": "case_opened",
        "subject_type": "case",
        "subject_id": f"subject-{n}",
        "policy_version": None,
        "reason": f"row {n}",
        "details": {"n": n, "nested": {"list": [1, 2.5, None]}},
        "trace_id": None,
    }


async def stored(engine: AsyncEngine, table: Any, column: Any, prefix: str) -> list[Any]:
    async with engine.connect() as conn:
        query = select(table).where(column.startswith(prefix)).order_by(column)
        return [row._asdict() for row in (await conn.execute(query)).all()]


async def test_rows_are_stored_as_an_executemany_stores_them(engine: AsyncEngine) -> None:
    rows = [case_row("same", n) for n in range(1, 4)]
    rows[1] |= {"identity": {"author_id": "a-2", "platform": "meta"}, "comment_url": "https://x"}
    async with engine.begin() as conn:
        await insert_many(conn, cases, rows)
    by_arrays = await stored(engine, cases, cases.c.group_key, "same:")
    async with engine.begin() as conn:
        await conn.execute(delete(cases).where(cases.c.group_key.startswith("same:")))
        await conn.execute(cases.insert(), rows)  # SQLAlchemy's own executemany
    by_executemany = await stored(engine, cases, cases.c.group_key, "same:")
    assert by_arrays == by_executemany
    assert [r["categories"] for r in by_arrays][0] == ["self_harm_intent", 'é "quoted"']
    async with engine.connect() as conn:
        nulls = await conn.exec_driver_sql(
            "SELECT count(*) FROM cases WHERE group_key LIKE 'same:%'"
            " AND identity IS NOT NULL AND identity::text = 'null'"
        )
        assert nulls.scalar_one() == 2  # None became JSON null both ways


async def test_a_plain_insert_still_raises_on_a_held_key(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await insert_many(conn, cases, [case_row("held", 1)])
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await insert_many(conn, cases, [case_row("held", 2), case_row("held", 1)])
    # Nothing of the failed batch is stored.
    held = await stored(engine, cases, cases.c.group_key, "held:")
    assert [r["group_key"] for r in held] == ["held:1"]


async def test_ignore_keeps_the_first_row_of_a_key(engine: AsyncEngine) -> None:
    first, again, other = audit_row("k-1", 1), audit_row("k-1", 2), audit_row("k-2", 3)
    async with engine.begin() as conn:
        await insert_ignore_many(conn, audit_log, [first, again])
        await insert_ignore_many(conn, audit_log, [again, other])
    rows = await stored(engine, audit_log, audit_log.c.dedup_key, "k-")
    assert [(r["dedup_key"], r["reason"], r["details"]) for r in rows] == [
        ("k-1", "row 1", first["details"]),
        ("k-2", "row 3", other["details"]),
    ]
    assert rows[0]["at"] == first["at"]


async def test_returning_names_only_the_rows_inserted(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        once = await insert_ignore_returning(
            conn, audit_log, [audit_row("r-1", 1), audit_row("r-2", 2)], key="dedup_key"
        )
        twice = await insert_ignore_returning(
            conn, audit_log, [audit_row("r-2", 3), audit_row("r-3", 4)], key="dedup_key"
        )
    assert (once, twice) == ({"r-1", "r-2"}, {"r-3"})


async def test_timers_move_earlier_never_later(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await insert_many(conn, cases, [case_row("timers", 1)])

    def timer(name: str, due: datetime) -> dict[str, Any]:
        return {
            "id": f"test-arrays:{name}",
            "case_id": case_row("timers", 1)["id"],
            "kind": "digest",
            "notified": 0,
            "reminded": 0,
            "page": None,
            "due_at": due,
            "updated_at": due,
        }

    later, earlier = NOW + timedelta(minutes=10), NOW + timedelta(minutes=1)
    async with engine.begin() as conn:
        await insert_or_move_earlier(
            conn, case_timers, [timer("a", later), timer("b", earlier)], key="id", column="due_at"
        )
        await insert_or_move_earlier(
            conn, case_timers, [timer("a", earlier), timer("b", later)], key="id", column="due_at"
        )
    rows = await stored(engine, case_timers, case_timers.c.id, "test-arrays:")
    assert [(r["id"], r["due_at"], r["updated_at"]) for r in rows] == [
        ("test-arrays:a", earlier, earlier),
        ("test-arrays:b", earlier, earlier),
    ]


async def test_an_over_long_string_is_refused_not_truncated(engine: AsyncEngine) -> None:
    row: dict[str, Any] = {
        "event_id": "x" * 37,  # varchar(36)
        "topic": "t",
        "key": None,
        "value": "{}",
        "headers": [],
        "created_at": NOW,
    }
    with pytest.raises(DBAPIError, match="too long"):
        async with engine.begin() as conn:
            await insert_ignore_many(conn, router_outbox, [row])


async def test_rows_with_different_columns_are_refused(engine: AsyncEngine) -> None:
    rows = [audit_row("d-1", 1), {k: v for k, v in audit_row("d-2", 2).items() if k != "reason"}]
    with pytest.raises(ValueError, match="differ in their columns"):
        async with engine.begin() as conn:
            await insert_ignore_many(conn, audit_log, rows)


def test_the_statement_has_one_text_whatever_the_number_of_rows() -> None:
    from shared.storage.writes import _unnest_statement

    dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
    names = ("dedup_key", "at", "details")
    statement = _unnest_statement(dialect, audit_log, names, "ignore", None, None, None)
    assert statement is not None
    assert statement.sql == (
        "INSERT INTO audit_log (dedup_key, at, details) SELECT v.dedup_key, v.at, v.details::json"
        " FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS v(dedup_key, at, details)"
        " ON CONFLICT DO NOTHING"
    )
