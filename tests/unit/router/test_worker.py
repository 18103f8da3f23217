"""The router on SQLite: cases group bursts, redeliveries are idempotent, every event goes
through the outbox and is published once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.router import store
from services.router.component import RouterComponent
from services.router.metrics import RouterMetrics
from services.router.policy.config import Policy
from services.router.settings import RouterSettings
from services.router.timers import Paging
from services.router.worker import GROUP, route_batch, route_comment
from shared.bus.memory import MemoryBus
from shared.codec import to_message
from shared.events import (
    ActionKind,
    CaseEventKind,
    Channel,
    ClassifiedComment,
    Label,
    Severity,
)
from shared.runtime import Runtime
from shared.storage.tables import audit_log, case_comments, cases
from shared.topics import (
    ACTION_TOPICS,
    ACTIONS,
    ACTIONS_CRITICAL,
    CASE_EVENTS,
    COMMENTS_CLASSIFIED,
    dlq,
)
from tests.unit import factories as f
from tests.unit.factories import eventually
from tests.unit.router.conftest import (
    MovingClock,
    actions,
    case_events,
    outbox_actions,
    published_actions,
    table_counts,
)


def abusive(comment_id: str, severity: Severity, author: str = "u-1") -> ClassifiedComment:
    return f.classified(
        f.comment(comment_id, author_id=author),
        f.classification(Label.ABUSIVE, severity=severity, categories=("insult",)),
    )


async def test_two_sensitive_comments_of_one_author_make_one_case_and_one_page(
    runtime: Runtime, paging: Paging, policy: Policy, metrics: RouterMetrics
) -> None:
    first = f.sensitive(f.comment("forum:c-1", text="I want to kill myself"))
    second = f.sensitive(f.comment("forum:c-2", text="je vais en finir"))

    out = await route_batch(runtime, paging, [first, second], metrics)

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
    assert action.ack_url is not None and action.ack_url.startswith("https://vigie.test/ack/")
    assert (opened.kind, updated.kind) == (CaseEventKind.OPENED, CaseEventKind.UPDATED)
    assert opened.case_id == updated.case_id == action.case_id
    assert updated.comment == second.comment.ref
    assert await outbox_actions(runtime.engine) == [action]

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
async def test_a_redelivered_comment_changes_nothing_and_stages_no_new_event(
    runtime: Runtime, paging: Paging, metrics: RouterMetrics, comment_id: str
) -> None:
    burst = [f.sensitive(f.comment("forum:c-1")), f.sensitive(f.comment("forum:c-2"))]
    first = await route_batch(runtime, paging, burst, metrics)
    before = await table_counts(runtime.engine)
    replayed = next(item for item in burst if item.comment.comment_id == comment_id)

    again = await route_comment(runtime, paging, replayed, metrics)

    assert await table_counts(runtime.engine) == before
    # Its case event is built again, with the same id: the outbox keeps the first one, and
    # nothing is given to publish a second time.
    assert [e for e in case_events(first) if e.comment == replayed.comment.ref]
    assert case_events(again) == []
    assert actions(again) == []  # the page is not sent a second time


async def test_different_authors_get_their_own_cases_and_pages(
    runtime: Runtime, paging: Paging, metrics: RouterMetrics
) -> None:
    out = await route_batch(
        runtime,
        paging,
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
    runtime: Runtime, paging: Paging, metrics: RouterMetrics
) -> None:
    await route_comment(runtime, paging, abusive("forum:c-1", Severity.MEDIUM), metrics)
    raised = await route_comment(runtime, paging, abusive("forum:c-2", Severity.HIGH), metrics)
    kept = await route_comment(runtime, paging, abusive("forum:c-3", Severity.LOW), metrics)

    assert [e.severity for e in case_events(raised)] == [Severity.HIGH]
    assert [e.severity for e in case_events(kept)] == [Severity.HIGH]
    assert actions(raised) == actions(kept) == []
    async with runtime.engine.connect() as conn:
        (severity,) = (await conn.execute(select(cases.c.severity))).scalars().all()
    assert severity == "high"


async def test_once_resolved_a_new_comment_opens_a_new_case_and_pages_again(
    runtime: Runtime, paging: Paging, metrics: RouterMetrics
) -> None:
    (first,) = actions(
        await route_comment(runtime, paging, f.sensitive(f.comment("forum:c-1")), metrics)
    )
    async with runtime.engine.begin() as conn:
        await conn.execute(update(cases).values(status="resolved"))

    (second,) = actions(
        await route_comment(runtime, paging, f.sensitive(f.comment("forum:c-2")), metrics)
    )

    assert second.case_id != first.case_id
    assert second.action_id != first.action_id


async def test_praise_opens_no_case_and_its_like_is_recorded_as_not_carried_out(
    runtime: Runtime, paging: Paging, metrics: RouterMetrics
) -> None:
    praise = f.classified(f.comment(), f.classification(Label.PRAISE))

    assert await route_comment(runtime, paging, praise, metrics) == []

    counts = await table_counts(runtime.engine)
    assert (counts["cases"], counts["router_outbox"]) == (0, 0)
    async with runtime.engine.connect() as conn:
        (entry,) = (await conn.execute(select(audit_log))).all()
    assert entry.action == "action.skipped"
    assert "like" in entry.reason


async def test_praise_on_facebook_is_liked_by_the_page_through_meta(
    runtime: Runtime, paging: Paging, metrics: RouterMetrics
) -> None:
    comment = f.comment("123_456", platform="facebook", source="page-1")
    praise = f.classified(comment, f.classification(Label.PRAISE))

    await route_comment(runtime, paging, praise, metrics)

    (like,) = await outbox_actions(runtime.engine)
    assert like.kind is ActionKind.LIKE
    assert (like.receiver.channel, like.receiver.target) == (Channel.META, "page-1")
    assert like.comment == comment.ref


async def test_a_comment_no_route_takes_yields_nothing(
    runtime: Runtime, paging: Paging, metrics: RouterMetrics
) -> None:
    nothing = f.classified(f.comment(), f.classification())

    assert await route_comment(runtime, paging, nothing, metrics) == []
    assert set((await table_counts(runtime.engine)).values()) == {0}


async def test_the_router_stage_pages_once_per_case_through_the_bus(
    engine: AsyncEngine, policy: Policy
) -> None:
    bus = MemoryBus()
    runtime = Runtime(bus=bus, engine=engine, registry=CollectorRegistry(), clock=MovingClock())
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

    (page,) = published_actions(bus)  # the outbox publishes each event once
    assert page.comment == item.comment.ref
    assert page.ack_url is None  # no VIGIE_ACK_TOKEN_SECRET, no link
    assert len(bus.records(CASE_EVENTS)) == 2  # opened, then updated by the reply
    assert bus.records(dlq(COMMENTS_CLASSIFIED)) == []
    assert (await table_counts(engine))["cases"] == 1


async def test_a_batch_that_meets_a_case_opened_meanwhile_is_routed_comment_by_comment(
    runtime: Runtime, paging: Paging, metrics: RouterMetrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    (first,) = actions(
        await route_comment(runtime, paging, f.sensitive(f.comment("forum:c-1")), metrics)
    )
    # The batch reads the groups' open cases before another replica commits u-1's case:
    # it opens a second one for the group, which the database refuses.
    reads = 0
    read_open_cases = store.open_group_cases

    async def stale_once(conn: AsyncConnection, keys: Iterable[str]) -> list[Any]:
        nonlocal reads
        reads += 1
        return [] if reads == 1 else await read_open_cases(conn, keys)

    monkeypatch.setattr(store, "open_group_cases", stale_once)
    batch = [
        f.sensitive(f.comment("forum:c-2", author_id="u-1")),
        f.sensitive(f.comment("forum:c-3", author_id="u-2")),
    ]

    out = await route_batch(runtime, paging, batch, metrics)

    assert reads == 3  # the batch, then each comment on its own
    async with runtime.engine.connect() as conn:
        members = (
            await conn.execute(select(case_comments.c.comment_id, case_comments.c.case_id))
        ).all()
        opened = (await conn.execute(select(cases.c.id))).scalars().all()
    in_case = dict(members)
    assert sorted(c for c, _ in members) == ["forum:c-1", "forum:c-2", "forum:c-3"]
    assert in_case["forum:c-2"] == in_case["forum:c-1"] == str(first.case_id)
    assert len(opened) == 2
    (page,) = actions(out)  # u-2's new case pages; u-1's was paged already
    assert str(page.case_id) == in_case["forum:c-3"]
    # Nothing is counted for the batch that was rolled back.
    opened_total = runtime.registry.get_sample_value(
        "vigie_router_cases_opened_total", {"severity": "critical", "route": "crisis"}
    )
    assert opened_total == 2


async def test_critical_cases_act_in_a_lane_of_their_own(
    runtime: Runtime, paging: Paging, metrics: RouterMetrics
) -> None:
    crisis = f.sensitive(f.comment("forum:c-1", text="I want to kill myself", author_id="u-1"))
    praise = f.classified(
        f.comment("fb:c-2", platform="facebook", author_id="u-2", text="merci !"),
        f.classification(Label.PRAISE, severity=Severity.LOW),
    )

    out = await route_batch(runtime, paging, [crisis, praise], metrics)

    lanes = {(a.severity, m.topic) for m in out if m.topic in ACTION_TOPICS for a in actions([m])}
    assert (Severity.CRITICAL, ACTIONS_CRITICAL) in lanes
    assert (Severity.LOW, ACTIONS) in lanes
    assert {topic for severity, topic in lanes if severity is not Severity.CRITICAL} == {ACTIONS}
