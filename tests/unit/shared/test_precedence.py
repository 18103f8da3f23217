"""The routine lane waits at its yield points while the priority lane has work in hand."""

from __future__ import annotations

import asyncio

from shared.precedence import Precedence


async def test_the_routine_lane_resumes_only_once_the_urgent_work_is_done() -> None:
    precedence = Precedence(max_wait_s=60)
    order: list[str] = []
    release = asyncio.Event()

    async def priority() -> None:
        async with precedence.urgent():
            order.append("urgent started")
            await release.wait()  # a round trip to the database, say
            order.append("urgent done")

    async def routine() -> None:
        for slice_number in range(3):
            order.append(f"routine slice {slice_number}")
            await precedence.yield_point()

    urgent = asyncio.create_task(priority())
    await asyncio.sleep(0)
    assert precedence.urgent_work
    lane = asyncio.create_task(routine())
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["urgent started", "routine slice 0"]  # held at its first yield point
    release.set()
    await asyncio.gather(urgent, lane)
    assert order == [
        "urgent started",
        "routine slice 0",
        "urgent done",
        "routine slice 1",
        "routine slice 2",
    ]
    assert not precedence.urgent_work


async def test_a_yield_point_without_urgent_work_lets_the_others_run_once() -> None:
    precedence = Precedence()
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    task = asyncio.create_task(other())
    await precedence.yield_point()
    assert ran == ["other"]
    await task


async def test_the_wait_is_bounded_so_the_routine_lane_never_stalls_for_good() -> None:
    precedence = Precedence(max_wait_s=0.01)
    never = asyncio.Event()

    async def stuck_priority() -> None:
        async with precedence.urgent():
            await never.wait()

    stuck = asyncio.create_task(stuck_priority())
    await asyncio.sleep(0)
    await precedence.yield_point()  # returns although the urgent work never ends
    assert precedence.urgent_work
    stuck.cancel()
    await asyncio.gather(stuck, return_exceptions=True)
    assert not precedence.urgent_work  # a cancelled block releases the routine lane
