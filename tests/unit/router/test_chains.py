"""Escalation chains as timer rows, driven by a clock the test moves: steps, acks,
reminders, restarts, quiet hours, mutes. Each line of a timeline is (minute, what happens,
the actions published at that moment)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest
from sqlalchemy import select

from services.router.policy.config import Policy
from services.router.policy.silences import Silence
from services.router.silence_store import create as create_silence
from shared.bus import BusUnavailable, Message
from shared.bus.memory import MemoryBus
from shared.bus.protocol import Acked
from shared.events import ClassifiedComment, Label, Severity
from shared.runtime import Runtime
from shared.storage.tables import audit_log, case_actions, cases
from tests.unit import factories as f
from tests.unit.router.conftest import (
    QUIET,
    MovingClock,
    Router,
    Timeline,
    play_timeline,
    policy_with,
    prepared_router,
    published_actions,
    route,
)

CRISIS: dict[str, Timeline] = {
    "nobody answers: tier after tier, three more rounds, then it stops": [
        (0, "comment", ["notify:crisis-team:1"]),
        (4.9, "tick", []),
        (5, "tick", ["notify:crisis-leads:2", "notify:crisis-team:2"]),
        (15, "tick", ["notify:crisis-team:3"]),
        (20, "tick", ["notify:crisis-leads:4", "notify:crisis-team:4"]),
        (30, "tick", ["notify:crisis-team:5"]),
        (50, "tick", ["notify:crisis-leads:8", "notify:crisis-team:8"]),  # 6 and 7 folded
        (500, "tick", []),
    ],
    "an ack stops the pages; reminders past the SLA until resolved": [
        (0, "comment", ["notify:crisis-team:1"]),
        (5, "tick", ["notify:crisis-leads:2", "notify:crisis-team:2"]),
        (6, "acknowledge", ["acknowledge:crisis-leads", "acknowledge:crisis-team"]),
        (15, "tick", []),
        (65.9, "tick", []),
        (66, "tick", ["remind:crisis-leads:1"]),
        (95, "tick", []),
        (96, "tick", ["remind:crisis-leads:2"]),
        (100, "resolve", ["resolve:crisis-leads", "resolve:crisis-team"]),
        (500, "tick", []),
    ],
    "reopened: the chain starts again, under new ids": [
        (0, "comment", ["notify:crisis-team:1"]),
        (1, "resolve", ["resolve:crisis-team"]),
        (10, "reopen", []),
        (10, "tick", ["r1:notify:crisis-team:1"]),
        (15, "tick", ["r1:notify:crisis-leads:2", "r1:notify:crisis-team:2"]),
    ],
}


def crisis(comment_id: str = "forum:c-1", *, platform: str = "generic") -> ClassifiedComment:
    return f.sensitive(f.comment(comment_id, platform=platform))


async def play(
    router: Router, bus: MemoryBus, clock: MovingClock, timeline: Timeline, item: ClassifiedComment
) -> None:
    async def on(what: str, now: datetime) -> bool:
        if what == "comment":
            await route(router, item)
        return what == "comment"

    await play_timeline(router, bus, clock, timeline, on)


@pytest.mark.parametrize("timeline", CRISIS.values(), ids=CRISIS.keys())
async def test_the_crisis_chain(
    runtime: Runtime, policy: Policy, bus: MemoryBus, clock: MovingClock, timeline: Timeline
) -> None:
    router = await prepared_router(runtime, policy)

    await play(router, bus, clock, timeline, crisis())

    ids = [a.action_id for a in published_actions(bus)]
    assert len(ids) == len(set(ids))


async def test_a_restarted_router_folds_the_steps_it_missed_into_one_round(
    runtime: Runtime, policy: Policy, bus: MemoryBus, clock: MovingClock
) -> None:
    first = await prepared_router(runtime, policy)
    await route(first, crisis())
    # The first router is gone (no stop: a kill); another starts 40 minutes later.
    second = await prepared_router(runtime, policy)

    await play(
        second,
        bus,
        clock,
        [
            (40, "tick", ["notify:crisis-leads:6", "notify:crisis-team:6"]),
            (40, "tick", []),
            (45, "tick", ["notify:crisis-team:7"]),
        ],
        crisis(),
    )

    async with runtime.engine.connect() as conn:
        reasons = (
            (
                await conn.execute(
                    select(audit_log.c.reason).where(audit_log.c.action == "case.escalated")
                )
            )
            .scalars()
            .all()
        )
    assert any("overdue step(s) [2, 3, 4, 5] folded" in r for r in reasons)


class FailingBus(MemoryBus):
    async def publish(self, messages: Sequence[Message], *, on_acked: Acked | None = None) -> None:
        raise BusUnavailable("broker down")


async def test_a_page_committed_but_never_published_is_published_once_by_the_next_tick(
    runtime: Runtime, policy: Policy, bus: MemoryBus, clock: MovingClock
) -> None:
    down = Runtime(bus=FailingBus(), engine=runtime.engine, clock=clock)
    crashed = await prepared_router(down, policy)
    with pytest.raises(BusUnavailable):
        await route(crashed, crisis())  # the case and its page are committed, not published
    assert published_actions(bus) == []

    restarted = await prepared_router(runtime, policy)
    await play(
        restarted,
        bus,
        clock,
        [
            (1, "tick", ["notify:crisis-team:1"]),
            (2, "tick", []),
            (5, "tick", ["notify:crisis-leads:2", "notify:crisis-team:2"]),
        ],
        crisis(),
    )


NIGHT = 11 * 60  # f.NOW is 12:00 UTC: 23:00
MORNING = 19 * 60  # 07:00 the next day


def insult(severity: Severity = Severity.HIGH) -> ClassifiedComment:
    return f.classified(
        f.comment("forum:c-9"),
        f.classification(Label.ABUSIVE, severity=severity, categories=("insult",)),
    )


@pytest.mark.parametrize(
    ("then", "timeline"),
    [
        (
            "stop",
            [
                (NIGHT, "comment", []),  # held until 07:00
                (NIGHT + 10, "tick", ["notify:leads:2"]),
                (MORNING, "tick", ["notify:moderators:1"]),
            ],
        ),
        (
            "resolve",
            [
                (NIGHT, "comment", []),
                (NIGHT + 10, "tick", ["notify:leads:2"]),
                (NIGHT + 20, "tick", ["resolve:leads"]),  # the chain resolved the case
                (MORNING, "tick", []),  # the held page is dropped, not sent late
            ],
        ),
    ],
    ids=["held-page-sent-in-the-morning", "held-page-dropped-once-resolved"],
)
async def test_quiet_hours_hold_a_page_until_they_end(
    runtime: Runtime, bus: MemoryBus, clock: MovingClock, then: str, timeline: Timeline
) -> None:
    router = await prepared_router(runtime, policy_with(QUIET.replace("THEN", then)))

    await play(router, bus, clock, timeline, insult())

    async with runtime.engine.connect() as conn:
        held = (
            await conn.execute(
                select(case_actions.c.status, case_actions.c.note).where(
                    case_actions.c.receiver == "moderators"
                )
            )
        ).one()
    assert held.status == ("emitted" if then == "stop" else "skipped")


async def test_a_critical_case_pages_through_quiet_hours(
    runtime: Runtime, bus: MemoryBus, clock: MovingClock
) -> None:
    router = await prepared_router(runtime, policy_with(QUIET.replace("THEN", "stop")))

    await play(
        router, bus, clock, [(NIGHT, "comment", ["notify:moderators:1"])], insult(Severity.CRITICAL)
    )


async def test_a_route_that_notifies_pages_once_group_wait_is_over(
    runtime: Runtime, policy: Policy, bus: MemoryBus, clock: MovingClock
) -> None:
    router = await prepared_router(runtime, policy)
    abuse = f.classified(
        f.comment("forum:c-5"), f.classification(Label.ABUSIVE, severity=Severity.MEDIUM)
    )

    await play(
        router,
        bus,
        clock,
        [
            (0, "comment", []),
            (0.9, "tick", []),
            (1, "tick", ["notify:moderators:1"]),
            (60, "tick", []),
        ],
        abuse,
    )


async def test_an_open_crisis_case_mutes_abuse_pages_about_the_same_author(
    runtime: Runtime, policy: Policy, bus: MemoryBus, clock: MovingClock
) -> None:
    router = await prepared_router(runtime, policy)
    await route(router, crisis("forum:c-1"))
    abuse = f.classified(
        f.comment("forum:c-2"), f.classification(Label.ABUSIVE, severity=Severity.MEDIUM)
    )

    await play(
        router,
        bus,
        clock,
        [(0, "comment", []), (5, "tick", ["notify:crisis-leads:2", "notify:crisis-team:2"])],
        abuse,
    )

    async with runtime.engine.connect() as conn:
        muted = (
            await conn.execute(
                select(cases.c.route, cases.c.muted_by).where(cases.c.route == "abuse")
            )
        ).one()
    assert muted.muted_by == "inhibit_rule:crisis-mutes-abuse"


SILENCED: dict[str, tuple[ClassifiedComment, Timeline]] = {
    "abuse-muted": (
        f.classified(
            f.comment("forum:c-3"), f.classification(Label.ABUSIVE, severity=Severity.MEDIUM)
        ),
        [(0, "comment", []), (5, "tick", [])],
    ),
    "crisis-still-pages": (crisis("forum:c-4"), [(0, "comment", ["notify:crisis-team:1"])]),
}


@pytest.mark.parametrize(("item", "timeline"), SILENCED.values(), ids=SILENCED.keys())
async def test_a_silence_mutes_pages_but_never_critical_ones(
    runtime: Runtime,
    policy: Policy,
    bus: MemoryBus,
    clock: MovingClock,
    item: ClassifiedComment,
    timeline: Timeline,
) -> None:
    silence = Silence(
        id="s-1",
        matchers=("label=~abusive|sensitive",),
        starts_at=f.NOW,
        ends_at=clock.at(120),
        created_by="ana",
        comment="known pile-on",
    )
    async with runtime.engine.begin() as conn:
        await create_silence(conn, silence, now=f.NOW, policy_version="p")
    router = await prepared_router(runtime, policy)

    await play(router, bus, clock, timeline, item)
