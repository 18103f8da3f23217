"""The router on SQLite with a clock the test moves: chains run without sleeping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router import casework
from services.router.component import RouterComponent
from services.router.lifecycle import Transition
from services.router.metrics import RouterMetrics
from services.router.policy.config import Policy, load_policy, parse_policy
from services.router.settings import RouterSettings
from services.router.timer_loop import TimerLoop
from services.router.timers import Paging
from services.router.tokens import AckLinks
from shared.bus import Message, Record
from shared.bus.memory import MemoryBus
from shared.events import Action, CaseEvent, ClassifiedComment
from shared.runtime import Runtime
from shared.stage import Decoded
from shared.storage.tables import (
    audit_log,
    case_actions,
    case_comments,
    case_timers,
    cases,
    router_outbox,
)
from shared.topics import ACTION_TOPICS, CASE_EVENTS
from tests.unit import factories as f

ROOT = Path(__file__).resolve().parents[3]
POLICY_FILE = ROOT / "config" / "policy.yaml"
ACK_SECRET = b"ack-secret-for-tests"


class MovingClock:
    """``runtime.clock``: stands still until the test moves it."""

    def __init__(self, start: datetime = f.NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> datetime:
        """Move to ``minutes`` after the start (f.NOW) and return that time."""
        self.now = f.NOW + timedelta(minutes=minutes)
        return self.now


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(POLICY_FILE)


def policy_with(text: str) -> Policy:
    """A policy from YAML text; its resource directory is the shipped one."""
    return parse_policy(text, base_dir=POLICY_FILE.parent)


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def runtime(engine: AsyncEngine, bus: MemoryBus, clock: MovingClock) -> Runtime:
    return Runtime(bus=bus, engine=engine, clock=clock)


@pytest.fixture
def metrics(runtime: Runtime) -> RouterMetrics:
    return RouterMetrics(runtime.registry)


def links() -> AckLinks:
    return AckLinks((ACK_SECRET,), "https://vigie.test", timedelta(hours=72))


@pytest.fixture
def paging(policy: Policy) -> Paging:
    return Paging(policy, links())


@dataclass
class Router:
    """A started-but-not-consuming router component: its timers and API, on our clock."""

    component: RouterComponent
    runtime: Runtime

    @property
    def timers(self) -> TimerLoop:
        assert self.component.timers is not None
        return self.component.timers


async def prepared_router(runtime: Runtime, policy: Policy, **settings: Any) -> Router:
    values: dict[str, Any] = {"ack_token_secret": ACK_SECRET.decode()} | settings
    component = RouterComponent(RouterSettings(**values), policy=policy)
    # A process of its own: its own metrics, the same bus, database and clock.
    own = Runtime(bus=runtime.bus, engine=runtime.engine, clock=runtime.clock)
    await component.prepare(own)
    return Router(component, own)


def actions(messages: Sequence[Message]) -> list[Action]:
    return [Action.model_validate_json(m.value) for m in messages if m.topic in ACTION_TOPICS]


def case_events(messages: Sequence[Message]) -> list[CaseEvent]:
    return [CaseEvent.model_validate_json(m.value) for m in messages if m.topic == CASE_EVENTS]


def published_actions(bus: MemoryBus) -> list[Action]:
    return [Action.model_validate_json(r.value) for t in ACTION_TOPICS for r in bus.records(t)]


async def outbox_actions(engine: AsyncEngine) -> list[Action]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(router_outbox.c.value)
            .where(router_outbox.c.topic.in_(ACTION_TOPICS))
            .order_by(router_outbox.c.id)
        )
        return [Action.model_validate_json(value) for value in rows.scalars()]


# A two-step ladder whose first receiver has quiet hours at night (f.NOW is noon UTC);
# ``THEN`` is what the chain does when it runs out.
QUIET = """
version: quiet
receivers:
  - {name: moderators, channel: webhook, url: "http://h.test/m", quiet_hours: [nights]}
  - {name: leads, channel: webhook, url: "http://h.test/l"}
time_windows:
  - {name: nights, times: ["22:00-07:00"]}
chains:
  - name: ladder
    steps:
      - {notify: [moderators], wait: 10m}
      - {notify: [leads], wait: 10m}
    then: THEN
routes:
  - {name: abuse, matchers: ["label=abusive"], chain: ladder, group_wait: 0s}
"""


async def table_rows(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    """Every row the router writes, table by table, in a stable order, without the ids the
    database numbers (they differ between two databases that hold the same rows)."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as conn:
        for table, order in (
            (cases, cases.c.id),
            (case_comments, case_comments.c.comment_id),
            (case_timers, case_timers.c.id),
            (case_actions, case_actions.c.action_id),
            (audit_log, audit_log.c.dedup_key),
            (router_outbox, router_outbox.c.id),
        ):
            rows = (await conn.execute(select(table).order_by(order))).mappings().all()
            out[table.name] = [{k: v for k, v in row.items() if k != "id"} for row in rows]
    return out


async def table_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (cases, case_comments, audit_log, case_actions, case_timers, router_outbox)
        }


# (minute, event, the action ids published by then, without their case prefix)
Timeline = list[tuple[float, str, list[str]]]


async def route(router: Router, item: ClassifiedComment) -> None:
    """``item`` through the router's stage, as if consumed from Kafka."""
    record = Record(topic="in", partition=0, offset=0, key=None, value=b"")
    await router.component.process([Decoded(record, item)])


async def change(router: Router, case_id: str, move: Transition) -> None:
    """A moderator's transition of the case, published as the API would."""
    engine, publisher = router.runtime.engine, router.component.publisher()
    assert publisher is not None
    now = router.runtime.clock()
    async with engine.begin() as conn:
        done = await casework.transition(
            conn, case_id, move, actor="user:ana", reason="test", policy_version="p", now=now
        )
    await publisher.publish(done.messages, now=now)


async def only_case(runtime: Runtime) -> str:
    async with runtime.engine.connect() as conn:
        (case_id,) = (await conn.execute(select(cases.c.id))).scalars().all()
    return str(case_id)


async def play_timeline(
    router: Router,
    bus: MemoryBus,
    clock: MovingClock,
    timeline: Timeline,
    on: Callable[[str, datetime], Awaitable[bool]],
) -> None:
    """Drive ``timeline`` minute by minute. ``tick`` runs the timers; ``on`` handles the
    test's own events (True when it did); any other event is a transition of the only case.
    After each event, the actions published since the previous one must be those expected."""
    seen = len(published_actions(bus))
    for minute, what, expected in timeline:
        now = clock.at(minute)
        if what == "tick":
            await router.timers.tick()
        elif not await on(what, now):
            await change(router, await only_case(router.runtime), Transition(what))
        published = published_actions(bus)
        new = sorted(a.action_id.split(":", 1)[1] for a in published[seen:])
        seen = len(published)
        assert new == expected, f"at {minute} min ({what})"
