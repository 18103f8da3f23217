"""The router's batch path on PostgreSQL writes exactly what routing the same comments one
at a time writes: the same cases, members, timers, actions, audit entries and outbox events,
in the same order, with its multi-row statements."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.metrics import RouterMetrics
from services.router.policy.config import load_policy
from services.router.timers import Paging
from services.router.worker import route_batch, route_comment
from shared.bus.memory import MemoryBus
from shared.events import ClassifiedComment, Label, Severity
from shared.runtime import Runtime
from shared.storage.engine import create_engine
from tests.databases import create_database, drop_database
from tests.unit import factories as f
from tests.unit.router.conftest import case_events, links, table_rows

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def two_engines() -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    server = os.environ["VIGIE_DATABASE_URL"]
    urls = [await create_database(server, prefix="vigie_router_batch") for _ in range(2)]
    engines = [create_engine(url) for url in urls]
    try:
        yield engines[0], engines[1]
    finally:
        for engine, url in zip(engines, urls, strict=True):
            await engine.dispose()
            await drop_database(server, url)


def _abusive(comment_id: str, author: str, severity: Severity) -> ClassifiedComment:
    return f.classified(
        f.comment(comment_id, author_id=author, post_id="p-1"),
        f.classification(Label.ABUSIVE, severity=severity, categories=("insult",)),
    )


def _question(comment_id: str, author: str) -> ClassifiedComment:
    return f.classified(
        f.comment(comment_id, author_id=author, thread_id="t-1"),
        f.classification(Label.QUESTION, severity=Severity.LOW),
    )


CRISIS = f.sensitive(f.comment("forum:c-1", author_id="u-1"))
FIRST = [
    CRISIS,
    _abusive("forum:a-1", "u-1", Severity.MEDIUM),  # muted: u-1 has an open crisis case
    _question("forum:q-1", "u-3"),
    f.classified(
        f.comment("123_1", platform="facebook", source="page-1", author_id="u-4"),
        f.classification(Label.PRAISE),
    ),
]
SECOND = [
    f.sensitive(f.comment("forum:c-2", author_id="u-1")),  # joins the crisis case
    _abusive("forum:a-2", "u-2", Severity.HIGH),  # joins the abuse case of p-1, raises it
    _question("forum:q-2", "u-5"),  # joins the thread's question case
    CRISIS,  # a redelivery
    f.sensitive(f.comment("forum:c-3", author_id="u-6")),
]


async def test_a_batch_writes_what_one_comment_at_a_time_writes(
    two_engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    paging = Paging(load_policy(ROOT / "config" / "policy.yaml"), links())

    def runtime(engine: AsyncEngine) -> Runtime:
        return Runtime(
            bus=MemoryBus(), engine=engine, registry=CollectorRegistry(), clock=lambda: f.NOW
        )

    batched, single = runtime(two_engines[0]), runtime(two_engines[1])
    batched_out, metrics = [], RouterMetrics(batched.registry)
    for batch in (FIRST, SECOND):
        batched_out += await route_batch(batched, paging, batch, metrics)
    single_out, metrics = [], RouterMetrics(single.registry)
    for item in (*FIRST, *SECOND):
        single_out += await route_comment(single, paging, item, metrics)

    got, expected = await table_rows(batched.engine), await table_rows(single.engine)
    assert [m.event_id for m in batched_out] == [m.event_id for m in single_out]
    assert len(expected["cases"]) == 4  # crisis u-1, abuse p-1, questions t-1, crisis u-6
    assert {c["severity"] for c in expected["cases"] if c["route"] == "abuse"} == {"high"}
    (raised,) = [e for e in case_events(batched_out) if e.comment == SECOND[1].comment.ref]
    assert raised.severity is Severity.HIGH
    for name, rows in expected.items():
        assert got[name] == rows, name
