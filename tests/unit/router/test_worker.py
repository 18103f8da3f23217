"""The router on SQLite: cases group bursts, redeliveries are idempotent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.component import RouterComponent
from services.router.metrics import RouterMetrics
from services.router.policy.config import Policy, load_policy
from services.router.settings import RouterSettings
from services.router.worker import GROUP, route_batch, route_comment
from shared.bus import Message
from shared.bus.memory import MemoryBus
from shared.codec import to_message
from shared.events import (
    Action,
    ActionKind,
    CaseEvent,
    CaseEventKind,
    ClassifiedComment,
    Label,
    Severity,
)
from shared.runtime import Runtime
from shared.storage.tables import audit_log, case_comments, cases
from shared.topics import ACTIONS, CASE_EVENTS, COMMENTS_CLASSIFIED, dlq
from tests.unit import factories as f
from tests.unit.factories import eventually

POLICY_FILE = Path(__file__).resolve().parents[3] / "config" / "policy.yaml"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY_FILE)


@pytest.fixture
def runtime(engine: AsyncEngine) -> Runtime:
    return Runtime(bus=MemoryBus(), engine=engine, clock=lambda: f.NOW)


@pytest.fixture
def metrics(runtime: Runtime) -> RouterMetrics:
    return RouterMetrics(runtime.registry)


def actions(messages: Sequence[Message]) -> list[Action]:
    return [Action.model_validate_json(m.value) for m in messages if m.topic == ACTIONS]


def case_events(messages: Sequence[Message]) -> list[CaseEvent]:
    return [CaseEvent.model_validate_json(m.value) for m in messages if m.topic == CASE_EVENTS]


async def table_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (cases, case_comments, audit_log)
        }


def abusive(comment_id: str, severity: Severity, author: str = "u-1") -> ClassifiedComment:
    return f.classified(
        f.comment(comment_id, author_id=author),
        f.classification(Label.ABUSIVE, severity=severity, categories=("insult",)),
    )


async def test_two_sensitive_comments_of_one_author_make_one_case_and_one_page(
    runtime: Runtime, policy: Policy, metrics: RouterMetrics
) -> None:
    first = f.sensitive(f.comment("forum:c-1", text="I want to kill myself"))
    second = f.sensitive(f.comment("forum:c-2", text="je vais en finir"))

    out = await route_batch(runtime, policy, [first, second], metrics)

    (action,) = actions(out)
    opened, updated = case_events(out)
    assert action.kind is ActionKind.NOTIFY
    assert action.receiver.name == "crisis-team"
    assert action.severity is Severity.CRITICAL
    assert action.route == "crisis"
    assert action.comment == first.comment.ref
    assert action.case_opened_at == f.NOW
    assert action.policy_version == policy.version
    assert action.action_id == f"{action.case_id}:notify:crisis-team:1"
    assert (opened.kind, updated.kind) == (CaseEventKind.OPENED, CaseEventKind.UPDATED)
    assert opened.case_id == updated.case_id == action.case_id
    assert updated.comment == second.comment.ref

    async with runtime.engine.connect() as conn:
        (case,) = (await conn.execute(select(cases))).all()
        members = (await conn.execute(select(case_comments.c.comment_id))).scalars().all()
    assert case.id == str(action.case_id)
    assert (case.status, case.severity, case.route) == ("open", "critical", "crisis")
    assert case.group_key == "crisis|platform=generic|author_id=u-1"
    assert sorted(members) == ["forum:c-1", "forum:c-2"]
    opened_total = runtime.registry.get_sample_value(
        "vigie_router_cases_opened_total", {"severity": "critical", "route": "crisis"}
    )
    assert opened_total == 1


@pytest.mark.parametrize("comment_id", ["forum:c-1", "forum:c-2"], ids=["opener", "grouped"])
async def test_a_redelivered_comment_changes_nothing_and_yields_the_same_events(
    runtime: Runtime, policy: Policy, metrics: RouterMetrics, comment_id: str
) -> None:
    burst = [f.sensitive(f.comment("forum:c-1")), f.sensitive(f.comment("forum:c-2"))]
    first = await route_batch(runtime, policy, burst, metrics)
    before = await table_counts(runtime.engine)
    replayed = next(item for item in burst if item.comment.comment_id == comment_id)

    again = await route_comment(runtime, policy, replayed, metrics)

    assert (
        await table_counts(runtime.engine)
        == before
        == {
            "cases": 1,
            "case_comments": 2,
            "audit_log": 2,
        }
    )
    original_events = [e for e in case_events(first) if e.comment == replayed.comment.ref]
    assert len(original_events) == 1
    assert case_events(again) == original_events
    if comment_id == "forum:c-1":
        # The opener yields its page again, with the same idempotency key and event id.
        assert actions(again) == actions(first)
    else:
        assert actions(again) == []


async def test_the_same_comment_routed_twice_keeps_one_case_and_one_action_id(
    runtime: Runtime, policy: Policy, metrics: RouterMetrics
) -> None:
    item = f.sensitive(f.comment("forum:c-1"))

    (one,) = actions(await route_comment(runtime, policy, item, metrics))
    (two,) = actions(await route_comment(runtime, policy, item, metrics))

    assert one.action_id == two.action_id
    assert one.event_id == two.event_id
    assert one.case_id == two.case_id
    assert (await table_counts(runtime.engine))["cases"] == 1
    # A redelivery is not a newly opened case.
    opened_total = runtime.registry.get_sample_value(
        "vigie_router_cases_opened_total", {"severity": "critical", "route": "crisis"}
    )
    assert opened_total == 1


async def test_different_authors_get_their_own_cases_and_pages(
    runtime: Runtime, policy: Policy, metrics: RouterMetrics
) -> None:
    out = await route_batch(
        runtime,
        policy,
        [
            f.sensitive(f.comment("forum:c-1", author_id="u-1")),
            f.sensitive(f.comment("forum:c-2", author_id="u-2")),
        ],
        metrics,
    )

    pages = actions(out)
    assert len(pages) == 2
    assert len({a.case_id for a in pages}) == 2
    assert len({a.action_id for a in pages}) == 2


async def test_a_grouped_comment_raises_the_case_severity_but_never_lowers_it(
    runtime: Runtime, policy: Policy, metrics: RouterMetrics
) -> None:
    await route_comment(runtime, policy, abusive("forum:c-1", Severity.MEDIUM), metrics)
    raised = await route_comment(runtime, policy, abusive("forum:c-2", Severity.HIGH), metrics)
    kept = await route_comment(runtime, policy, abusive("forum:c-3", Severity.LOW), metrics)

    assert [e.severity for e in case_events(raised)] == [Severity.HIGH]
    assert [e.severity for e in case_events(kept)] == [Severity.HIGH]
    assert actions(raised) == actions(kept) == []
    async with runtime.engine.connect() as conn:
        (severity,) = (await conn.execute(select(cases.c.severity))).scalars().all()
    assert severity == "high"


async def test_once_resolved_a_new_comment_opens_a_new_case_and_pages_again(
    runtime: Runtime, policy: Policy, metrics: RouterMetrics
) -> None:
    (first,) = actions(
        await route_comment(runtime, policy, f.sensitive(f.comment("forum:c-1")), metrics)
    )
    async with runtime.engine.begin() as conn:
        await conn.execute(update(cases).values(status="resolved"))

    (second,) = actions(
        await route_comment(runtime, policy, f.sensitive(f.comment("forum:c-2")), metrics)
    )

    assert second.case_id != first.case_id
    assert second.action_id != first.action_id


async def test_a_comment_no_route_opens_a_case_for_yields_nothing(
    runtime: Runtime, policy: Policy, metrics: RouterMetrics
) -> None:
    praise = f.classified(f.comment(), f.classification(Label.PRAISE))

    assert await route_comment(runtime, policy, praise, metrics) == []
    assert await table_counts(runtime.engine) == {"cases": 0, "case_comments": 0, "audit_log": 0}


async def test_the_router_stage_pages_once_per_case_through_the_bus(
    engine: AsyncEngine, policy: Policy
) -> None:
    bus = MemoryBus()
    runtime = Runtime(bus=bus, engine=engine, registry=CollectorRegistry(), clock=lambda: f.NOW)
    item = f.sensitive(f.comment("forum:c-1"))
    message = to_message(COMMENTS_CLASSIFIED, item, key=item.comment.partition_key)
    # The same record twice (a redelivery), then the author's reply in the same thread (so
    # the same partition: order is only kept within a partition).
    second = f.sensitive(f.comment("forum:c-2", parent_id="forum:c-1"))
    await bus.publish(
        [
            message,
            message,
            to_message(COMMENTS_CLASSIFIED, second, key=second.comment.partition_key),
        ]
    )
    component = RouterComponent(RouterSettings(), policy=policy)

    await component.start(runtime)
    try:
        await eventually(
            lambda: sum(bus.committed(GROUP, COMMENTS_CLASSIFIED, p) for p in range(3)) == 3
        )
    finally:
        await component.stop()

    pages = [Action.model_validate_json(r.value) for r in bus.records(ACTIONS)]
    assert len(pages) == 2  # once per delivery of the opener, never for the grouped comment
    assert len({(a.action_id, a.event_id) for a in pages}) == 1
    assert pages[0].comment == item.comment.ref
    assert len(bus.records(CASE_EVENTS)) == 3
    assert bus.records(dlq(COMMENTS_CLASSIFIED)) == []
    assert (await table_counts(engine))["cases"] == 1
