"""The router's priority lane routes as the routine lane does, and holds the routine lane
at its yield points while it does."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from services.router.component import PriorityRouterComponent
from services.router.policy.config import Policy
from services.router.worker import YIELD_EVERY
from shared.bus import Record
from shared.bus.memory import MemoryBus
from shared.events import ClassifiedComment
from shared.precedence import Precedence
from shared.runtime import Runtime
from shared.stage import Decoded
from tests.unit import factories as f
from tests.unit.router.conftest import prepared_router, published_actions


async def test_the_priority_lane_pages_a_crisis_while_holding_the_routine_lane(
    runtime: Runtime, policy: Policy, bus: MemoryBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = await prepared_router(runtime, policy)
    routine = router.component
    priority = PriorityRouterComponent(routine)
    await priority.prepare(router.runtime)
    held_while_routing: list[bool] = []
    route = routine.route

    async def observed(batch: Sequence[Decoded[ClassifiedComment]], **kwargs: Any) -> list[Any]:
        held_while_routing.append(routine.precedence.urgent_work)
        return list(await route(batch, **kwargs))

    monkeypatch.setattr(routine, "route", observed)
    crisis = f.sensitive(f.comment("forum:c-1", author_id="u-1"))
    record = Record(topic="in", partition=0, offset=0, key=None, value=b"")
    await priority.process([Decoded(record, crisis)])

    assert held_while_routing == [True]
    assert not routine.precedence.urgent_work
    assert [a.receiver.name for a in published_actions(bus)] == ["crisis-team"]


async def test_a_long_priority_batch_does_not_wait_for_itself(
    runtime: Runtime, policy: Policy, bus: MemoryBus
) -> None:
    """The priority lane holds the routine lane; its own batches, however long, must not
    wait at the points where the routine lane gives way."""
    router = await prepared_router(runtime, policy)
    routine = router.component
    routine.precedence = Precedence(max_wait_s=3600)
    priority = PriorityRouterComponent(routine)
    await priority.prepare(router.runtime)
    record = Record(topic="in", partition=0, offset=0, key=None, value=b"")
    crises = [
        Decoded(record, f.sensitive(f.comment(f"forum:c-{n}", author_id=f"u-{n}")))
        for n in range(YIELD_EVERY * 2 + 1)
    ]

    await asyncio.wait_for(priority.process(crises), timeout=30)

    assert len(published_actions(bus)) == len(crises)
