"""``/readyz`` asks the broker and the database at most once a second, however many probes
arrive; probes that arrive meanwhile share the last answer, and components are read live."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus.memory import MemoryBus
from shared.runtime import Runtime
from shared.service import PING_MAX_AGE_S, ServiceState


class CountingBus(MemoryBus):
    """A broker whose pings are counted, held until released, and may fail."""

    def __init__(self) -> None:
        super().__init__()
        self.pings = 0
        self.up = True
        self.release = asyncio.Event()

    async def ping(self) -> bool:
        self.pings += 1
        await self.release.wait()
        return self.up


class Part:
    name = "part"

    def __init__(self) -> None:
        self.is_ready = True

    def routes(self) -> APIRouter | None:
        return None

    async def start(self, runtime: Runtime) -> None:
        return None

    async def stop(self) -> None:
        return None

    def ready(self) -> bool:
        return self.is_ready


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_probes_at_once_share_one_ping_and_later_ones_reuse_it(engine: AsyncEngine) -> None:
    bus, clock, part = CountingBus(), Clock(), Part()
    state = ServiceState(monotonic=clock)
    state.runtime = Runtime(bus=bus, engine=engine)
    state.components = [part]

    probes = [asyncio.create_task(state.checks()) for _ in range(20)]
    await asyncio.sleep(0)
    bus.release.set()
    answers = await asyncio.gather(*probes)
    bus.up, part.is_ready = False, False
    clock.now += PING_MAX_AGE_S / 2
    within = await state.checks()
    clock.now += PING_MAX_AGE_S
    after = await state.checks()

    assert bus.pings == 2
    assert all(a == {"broker": True, "database": True, "part": True} for a in answers)
    assert within == {"broker": True, "database": True, "part": False}  # components: live
    assert after == {"broker": False, "database": True, "part": False}


async def test_before_start_nothing_is_asked() -> None:
    assert await ServiceState().checks() == {"started": False}
