"""A case a silence kept from paging: its chain starts when the silence ends (or is expired
early) if the case is still open and unacknowledged, once. Each line of a timeline is
(minute, what happens, the actions published at that moment)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from services.router.lifecycle import Transition
from services.router.policy.config import Policy
from services.router.policy.silences import Silence
from services.router.silence_store import create as create_silence
from services.router.silence_store import expire as expire_silence
from shared.bus.memory import MemoryBus
from shared.events import ClassifiedComment, Label, Severity
from shared.runtime import Runtime
from shared.storage.tables import cases
from tests.unit import factories as f
from tests.unit.router.conftest import (
    MovingClock,
    Router,
    Timeline,
    change,
    only_case,
    play_timeline,
    prepared_router,
    published_actions,
    route,
)
from tests.unit.router.test_chains import crisis

# The shipped policy: abuse pages the moderators (one step) after a group_wait of 1m.
SILENCE_ENDS = 120

TIMELINES: dict[str, Timeline] = {
    "the silence ends: the chain starts then, once": [
        (0, "abuse", []),
        (60, "tick", []),
        (119.9, "tick", []),
        (120.9, "tick", []),  # group_wait, as for a case opened now
        (121, "tick", ["notify:moderators:1"]),
        (122, "tick", []),
        (600, "tick", []),
    ],
    "expired early: the chain starts at once": [
        (0, "abuse", []),
        (30, "expire", []),
        (30, "tick", []),
        (31, "tick", ["notify:moderators:1"]),
        (120, "tick", []),
        (600, "tick", []),
    ],
    "a redelivered comment during the silence holds nothing twice": [
        (0, "abuse", []),
        (10, "abuse", []),
        (121, "tick", ["notify:moderators:1"]),
        (121, "abuse", []),
        (600, "tick", []),
    ],
    "acknowledged during the silence: nothing": [
        (0, "abuse", []),
        (10, "acknowledge", []),
        (121, "tick", []),
        (600, "tick", []),
    ],
    "resolved during the silence: nothing": [
        (0, "abuse", []),
        (10, "resolve", []),
        (121, "tick", []),
        (600, "tick", []),
    ],
    "expired after it ended: nothing more": [
        (0, "abuse", []),
        (121, "tick", ["notify:moderators:1"]),
        (130, "expire", []),
        (130, "tick", []),
        (600, "tick", []),
    ],
}


def abuse() -> ClassifiedComment:
    return f.classified(
        f.comment("forum:c-3"), f.classification(Label.ABUSIVE, severity=Severity.MEDIUM)
    )


async def silence_abuse(runtime: Runtime) -> None:
    silence = Silence(
        id="s-1",
        matchers=("label=~abusive|sensitive",),
        starts_at=f.NOW,
        ends_at=MovingClock().at(SILENCE_ENDS),
        created_by="ana",
        comment="known pile-on",
    )
    async with runtime.engine.begin() as conn:
        await create_silence(conn, silence, now=f.NOW, policy_version="p")


async def play(router: Router, bus: MemoryBus, clock: MovingClock, timeline: Timeline) -> None:
    async def on(what: str, now: datetime) -> bool:
        if what == "abuse":
            await route(router, abuse())
        elif what == "expire":
            async with router.runtime.engine.begin() as conn:
                await expire_silence(
                    conn, "s-1", by="ana", reason="over", now=now, policy_version="p"
                )
        return what in ("abuse", "expire")

    await play_timeline(router, bus, clock, timeline, on)


@pytest.mark.parametrize("timeline", TIMELINES.values(), ids=TIMELINES.keys())
async def test_pages_held_by_a_silence(
    runtime: Runtime, policy: Policy, bus: MemoryBus, clock: MovingClock, timeline: Timeline
) -> None:
    await silence_abuse(runtime)
    router = await prepared_router(runtime, policy)

    await play(router, bus, clock, timeline)

    ids = [a.action_id for a in published_actions(bus)]
    assert len(ids) == len(set(ids))


async def test_the_chain_runs_as_if_the_case_opened_when_the_silence_ended(
    runtime: Runtime, policy: Policy, bus: MemoryBus, clock: MovingClock
) -> None:
    await silence_abuse(runtime)
    router = await prepared_router(runtime, policy)
    await route(router, abuse())
    clock.at(SILENCE_ENDS + 1)

    await router.timers.tick()

    (first,) = published_actions(bus)
    async with runtime.engine.connect() as conn:
        muted_by = (await conn.execute(select(cases.c.muted_by))).scalar_one()
    assert (first.receiver.name, first.ack_url is not None) == ("moderators", True)
    assert muted_by == "silence:s-1"


async def test_a_critical_case_pages_through_the_silence_and_once_only(
    runtime: Runtime, policy: Policy, bus: MemoryBus, clock: MovingClock
) -> None:
    await silence_abuse(runtime)
    router = await prepared_router(runtime, policy)
    await route(router, crisis())
    clock.at(2)
    await change(router, await only_case(runtime), Transition.ACKNOWLEDGE)
    clock.at(SILENCE_ENDS + 1)

    await router.timers.tick()

    pages = [a.action_id.split(":", 1)[1] for a in published_actions(bus)]
    assert [p for p in pages if p.startswith("notify:")] == ["notify:crisis-team:1"]
