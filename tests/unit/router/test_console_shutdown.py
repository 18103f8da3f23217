"""The console's live stream ends as soon as the server begins to shut down: the wait between
two polls gives way at once, what was found before is still sent, and no poll is left
running. Polls here wait until cancelled: only the shutdown can end the stream early (a
stream that never ends fails the test after ``GIVE_UP_S``, a bound that measures nothing)."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.console import live
from services.router.policy.config import Policy
from shared.runtime import Runtime
from shared.shutdown import Shutdown
from tests.unit import factories as f
from tests.unit.router.conftest import MovingClock
from tests.unit.router.test_access_support import console_router
from tests.unit.router.test_api import opened

GIVE_UP_S = 60.0
NEVER = 10**6  # no shutdown during this stream


class Polls:
    """``poll`` for the stream: returns at once until call ``begin_at``, which begins
    ``shutdown`` and then waits until cancelled."""

    def __init__(self, shutdown: Shutdown, *, begin_at: int) -> None:
        self.shutdown, self.begin_at = shutdown, begin_at
        self.started = 0
        self.running = 0

    async def __call__(self) -> None:
        self.started += 1
        if self.started < self.begin_at:
            return
        self.shutdown.begin()
        self.running += 1
        try:
            await asyncio.Event().wait()
        finally:
            self.running -= 1


async def drain(
    engine: AsyncEngine, shutdown: Shutdown, polls: Polls, count: int, *, heartbeat_every: int = 1
) -> list[str]:
    stream = live.case_changes(
        engine,
        cursor=f.NOW,
        poll=polls,
        polls=count,
        heartbeat_every=heartbeat_every,
        ended=shutdown.wait,
    )

    async def frames() -> list[str]:
        return [chunk async for chunk in stream]

    return await asyncio.wait_for(frames(), GIVE_UP_S)


@pytest.mark.parametrize("begin_at", [1, 3])  # during the first wait, the third
async def test_the_stream_ends_during_a_poll_wait_once_shutdown_begins(
    engine: AsyncEngine, begin_at: int
) -> None:
    shutdown = Shutdown()
    polls = Polls(shutdown, begin_at=begin_at)

    frames = await drain(engine, shutdown, polls, 300)

    assert frames[0].startswith("retry: ")  # the browser will reconnect
    assert frames.count(": heartbeat\n\n") == begin_at  # one per quiet poll
    assert polls.started == begin_at
    assert polls.running == 0  # the wait that was cut short is not left behind


async def test_a_stream_opened_after_shutdown_began_ends_without_waiting(
    engine: AsyncEngine,
) -> None:
    shutdown = Shutdown()
    shutdown.begin()
    polls = Polls(shutdown, begin_at=NEVER)

    frames = await drain(engine, shutdown, polls, 300)

    assert frames[0].startswith("retry: ")
    assert len(frames) <= 2  # at most one poll's worth: a heartbeat
    assert polls.running == 0


async def test_without_shutdown_the_stream_makes_all_its_polls(engine: AsyncEngine) -> None:
    shutdown = Shutdown()
    polls = Polls(shutdown, begin_at=NEVER)

    frames = await drain(engine, shutdown, polls, 4)

    assert polls.started == 4
    assert frames.count(": heartbeat\n\n") == 4
    assert not shutdown.begun


async def test_changes_found_before_shutdown_are_sent_before_the_stream_ends(
    runtime: Runtime, policy: Policy, clock: MovingClock
) -> None:
    router = await console_router(runtime, policy)
    clock.at(1)  # after the stream's cursor
    case_id = await opened(router)
    shutdown = Shutdown()
    polls = Polls(shutdown, begin_at=1)

    frames = await drain(runtime.engine, shutdown, polls, 300, heartbeat_every=100)
    cases = [json.loads(c.split("data: ", 1)[1]) for c in frames if "event: case" in c]

    assert [c["id"] for c in cases] == [case_id]
    assert polls.started == 1 and polls.running == 0
