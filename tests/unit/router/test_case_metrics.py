"""How fast people answer, as the router measures it: acknowledgement deadlines and the
cases past them, deadlines missed, time to acknowledge and time to a human."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.classifier import store as classifier_store
from services.router.casework import FirstAck
from services.router.metrics import (
    CaseGauges,
    ChainedCase,
    RouterMetrics,
    ack_breached,
    ack_deadline,
    overdue_counts,
    time_to_human,
)
from services.router.policy.chain_run import one_step_chain
from services.router.policy.config import Policy
from services.router.policy.schema import ChainConfig, ChainStep
from services.router.timers import Paging
from shared.runtime import Runtime
from shared.storage.engine import create_engine
from tests.unit import factories as f
from tests.unit.router.conftest import (
    MovingClock,
    Router,
    links,
    only_case,
    policy_with,
    prepared_router,
    route,
)
from tests.unit.router.test_answer_due import POLICY as QUESTIONS_POLICY
from tests.unit.router.test_answer_due import question
from tests.unit.router.test_chains import crisis

TOKEN = "api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = f.NOW
MIN = timedelta(minutes=1)


def chain(*waits: int, repeat: int = 0, then: str = "stop") -> ChainConfig:
    steps = tuple(ChainStep(notify=("team",), wait=timedelta(minutes=w)) for w in waits)
    return ChainConfig(name="c", steps=steps, repeat=repeat, then=then)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "deadline"),
    [
        (chain(5, 10), T0 + 5 * MIN),
        (chain(5, 10, repeat=3), T0 + 5 * MIN),
        (chain(20, repeat=1), T0 + 20 * MIN),  # the repeat is the escalation
        (chain(20, then="resolve"), T0 + 20 * MIN),  # so is resolving
        (chain(20), None),  # nothing after the only step
        (one_step_chain(("moderators",)), None),  # a route's plain notify
        (None, None),  # no chain (the policy dropped it)
    ],
    ids=[
        "two-steps",
        "repeated",
        "one-step-repeated",
        "one-step-resolves",
        "one-step",
        "notify",
        "none",
    ],
)
def test_the_acknowledgement_deadline_is_when_the_chain_escalates(
    config: ChainConfig | None, deadline: datetime | None
) -> None:
    assert ack_deadline(config, T0) == deadline


def test_overdue_cases_are_counted_by_severity() -> None:
    chains = {"crisis": chain(5, 10), "plain": one_step_chain(("moderators",))}

    def chain_of(route: str, name: str | None) -> ChainConfig | None:
        return chains.get(name or route)

    now = T0 + 10 * MIN
    cases = [
        ChainedCase("critical", "crisis", "crisis", T0),  # due at 5: overdue
        ChainedCase("critical", "crisis", "crisis", T0 + 5 * MIN),  # due at 10: overdue
        ChainedCase("critical", "crisis", "crisis", T0 + 6 * MIN),  # due at 11: not yet
        ChainedCase("high", "crisis", "crisis", T0 - 60 * MIN),
        ChainedCase("medium", "plain", None, T0 - 60 * MIN),  # no deadline
        ChainedCase("low", "gone", "gone", T0 - 60 * MIN),  # chain no longer in the policy
    ]
    assert overdue_counts(cases, chain_of, now) == {"critical": 2, "high": 1}


@pytest.mark.parametrize(
    ("minute", "notified", "acknowledged", "resolved", "breached"),
    [
        (5, 1, False, False, True),  # the chain escalates, nobody acknowledged
        (4, 1, False, False, False),  # before the deadline
        (5, 1, True, False, False),
        (5, 1, False, True, False),
        (15, 2, False, False, False),  # escalated already: counted at 5
        (30, 0, False, False, True),  # after an outage, the first step is late too
    ],
)
def test_a_deadline_is_breached_once_per_round(
    minute: int, notified: int, acknowledged: bool, resolved: bool, breached: bool
) -> None:
    assert (
        ack_breached(
            chain(5, 10),
            started_at=T0,
            notified=notified,
            acknowledged=acknowledged,
            resolved=resolved,
            now=T0 + minute * MIN,
        )
        is breached
    )


@pytest.mark.parametrize(
    ("comment_at", "seconds"),
    [(T0 - 2 * MIN, 720.0), (T0 + 30 * MIN, 0.0), (None, None)],
    ids=["posted-before-the-case", "platform-clock-ahead", "comment-not-stored"],
)
def test_time_to_human_counts_from_the_comment_s_platform_time(
    comment_at: datetime | None, seconds: float | None
) -> None:
    ack = FirstAck("critical", T0, T0 + 10 * MIN, comment_at)
    assert time_to_human(ack) == seconds


# On the router: SQLite, the shipped policy, a clock the test moves ---------------------------


@pytest.fixture
async def router(runtime: Runtime, policy: Policy) -> Router:
    return await prepared_router(runtime, policy, router_api_token=TOKEN)


@pytest.fixture
async def client(router: Router) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router.component.routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as client:
        yield client


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_crisis_case_from_comment_to_acknowledgement(
    router: Router, client: httpx.AsyncClient, clock: MovingClock
) -> None:
    registry, engine = router.runtime.registry, router.runtime.engine
    metrics = router.component.metrics()
    assert metrics is not None
    gauges = CaseGauges(metrics, engine, router.component.paging, clock=clock)
    item = crisis()
    item = item.model_copy(
        update={"comment": item.comment.model_copy(update={"created_at": T0 - 2 * MIN})}
    )
    await classifier_store.record(engine, [item], T0)  # the classifier stored the comment
    await route(router, item)
    case = await only_case(router.runtime)

    async def counted() -> tuple[float, float, float, float]:
        await gauges.read()
        return (
            sample(registry, "vigie_router_open_cases", severity="critical", state="open"),
            sample(registry, "vigie_router_open_cases", severity="critical", state="acknowledged"),
            sample(registry, "vigie_router_overdue_cases", severity="critical"),
            sample(
                registry, "vigie_router_sla_breaches_total", severity="critical", kind="acknowledge"
            ),
        )

    assert await counted() == (1, 0, 0, 0)
    clock.at(4.9)
    await router.timers.tick()
    assert await counted() == (1, 0, 0, 0)
    clock.at(5)
    await router.timers.tick()  # the chain escalates: step 2
    assert await counted() == (1, 0, 1, 1)
    clock.at(15)
    await router.timers.tick()  # step 3: the same round, no second breach
    assert await counted() == (1, 0, 1, 1)

    clock.at(20)
    ack = await client.post(f"/api/v1/cases/{case}/acknowledge", json={"by": "ana"}, headers=AUTH)
    assert ack.status_code == 200, ack.text
    assert await counted() == (0, 1, 0, 1)
    critical = {"severity": "critical"}
    assert sample(registry, "vigie_router_time_to_acknowledge_seconds_sum", **critical) == 1200
    assert sample(registry, "vigie_router_time_to_human_seconds_sum", **critical) == 1320
    assert (
        sample(registry, "vigie_router_time_to_human_seconds_bucket", le="900.0", **critical) == 0
    )
    assert (
        sample(registry, "vigie_router_time_to_human_seconds_bucket", le="1800.0", **critical) == 1
    )

    # Resolved, reopened, acknowledged again: a transition, not a first acknowledgement.
    for move in ("resolve", "reopen", "acknowledge"):
        clock.at(30)
        done = await client.post(
            f"/api/v1/cases/{case}/{move}", json={"by": "ana", "reason": "r"}, headers=AUTH
        )
        assert done.status_code == 200, done.text
    transitions = {
        t: sample(
            registry,
            "vigie_router_case_transitions_total",
            transition=t,
            via="api",
            severity="critical",
        )
        for t in ("acknowledged", "resolved", "reopened")
    }
    assert transitions == {"acknowledged": 2, "resolved": 1, "reopened": 1}
    assert sample(registry, "vigie_router_time_to_acknowledge_seconds_count", **critical) == 1


async def test_a_case_whose_comment_is_not_stored_has_no_time_to_human(
    router: Router, client: httpx.AsyncClient, clock: MovingClock
) -> None:
    await route(router, crisis())
    case = await only_case(router.runtime)
    clock.at(3)
    ack = await client.post(f"/api/v1/cases/{case}/acknowledge", json={"by": "ana"}, headers=AUTH)
    assert ack.status_code == 200, ack.text
    registry = router.runtime.registry
    assert (
        sample(registry, "vigie_router_time_to_acknowledge_seconds_sum", severity="critical") == 180
    )
    assert sample(registry, "vigie_router_time_to_human_seconds_count", severity="critical") == 0


async def test_an_unanswered_question_breaches_its_answer_deadline_once(
    runtime: Runtime, clock: MovingClock
) -> None:
    router = await prepared_router(runtime, policy_with(QUESTIONS_POLICY))
    await route(router, question())
    registry = router.runtime.registry
    for minute in (59.9, 60, 61, 600):
        clock.at(minute)
        await router.timers.tick()
        breaches = sample(
            registry, "vigie_router_sla_breaches_total", severity="low", kind="answer"
        )
        assert breaches == (0 if minute < 60 else 1), minute
    # No chain escalates in this policy (one step, no repeat): no acknowledgement deadline.
    assert (
        sample(registry, "vigie_router_sla_breaches_total", severity="low", kind="acknowledge") == 0
    )


async def test_the_router_counts_its_cases_when_scraped(router: Router) -> None:
    await route(router, crisis())
    await router.runtime.refresh_metrics()
    registry = router.runtime.registry
    assert sample(registry, "vigie_router_open_cases", severity="critical", state="open") == 1
    assert (
        registry.get_sample_value(
            "vigie_router_open_cases", {"severity": "low", "state": "acknowledged"}
        )
        == 0
    )


async def test_a_database_that_does_not_answer_leaves_the_case_gauges_as_they_were(
    policy: Policy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'vigie.db'}")
    gauges = CaseGauges(metrics, engine, Paging(policy, links()), clock=lambda: T0)
    metrics.open_cases.labels("critical", "open").set(2)
    try:
        await gauges.refresh()
    finally:
        await engine.dispose()
    assert sample(registry, "vigie_router_open_cases", severity="critical", state="open") == 2
    assert "case gauges not read: OperationalError" in caplog.text
