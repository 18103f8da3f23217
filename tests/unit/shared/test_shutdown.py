"""The shutdown signal: its waiters are released when it begins, from the loop, from another
thread or from a real signal handler; a late waiter returns at once; and the server that
``serve`` runs begins it when uvicorn is told to exit. Waits that never end fail the test
after ``GIVE_UP_S``, a bound that measures nothing."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from types import FrameType

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from shared.serve import StoppingServer
from shared.shutdown import Shutdown

GIVE_UP_S = 60.0


async def waiting(shutdown: Shutdown) -> asyncio.Task[None]:
    """A task waiting on ``shutdown``, once it waits."""
    task = asyncio.create_task(shutdown.wait())
    await asyncio.sleep(0)  # let it start waiting
    assert not task.done()
    return task


async def test_begin_releases_every_waiter_and_later_waits_return_at_once() -> None:
    shutdown = Shutdown()
    tasks = [await waiting(shutdown) for _ in range(3)]

    shutdown.begin()

    await asyncio.wait_for(asyncio.gather(*tasks), GIVE_UP_S)
    await asyncio.wait_for(shutdown.wait(), GIVE_UP_S)
    assert shutdown.begun


async def test_begin_from_another_thread_wakes_the_loop() -> None:
    shutdown = Shutdown()
    task = await waiting(shutdown)

    await asyncio.to_thread(shutdown.begin)

    await asyncio.wait_for(task, GIVE_UP_S)


@pytest.fixture
def on_sigusr1() -> Iterator[list[Shutdown]]:
    """SIGUSR1 begins the shutdown put in the list, as SIGTERM does under ``serve``."""
    target: list[Shutdown] = []

    def handler(sig: int, frame: FrameType | None) -> None:
        target[0].begin()

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        yield target
    finally:
        signal.signal(signal.SIGUSR1, previous)


async def test_begin_from_a_signal_handler_releases_the_waiter(
    on_sigusr1: list[Shutdown],
) -> None:
    shutdown = Shutdown()
    on_sigusr1.append(shutdown)
    task = await waiting(shutdown)

    signal.raise_signal(signal.SIGUSR1)

    await asyncio.wait_for(task, GIVE_UP_S)


async def test_a_cancelled_waiter_does_not_stop_the_others() -> None:
    shutdown = Shutdown()
    gone, kept = await waiting(shutdown), await waiting(shutdown)
    gone.cancel()

    shutdown.begin()

    await asyncio.wait_for(kept, GIVE_UP_S)
    assert gone.cancelled()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Never called: the server is not started."""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_the_served_server_begins_the_shutdown_when_told_to_exit(sig: int) -> None:
    shutdown = Shutdown()
    server = StoppingServer(uvicorn.Config(app, log_config=None), shutdown=shutdown)
    task = await waiting(shutdown)

    server.handle_exit(sig, None)

    await asyncio.wait_for(task, GIVE_UP_S)
    assert server.should_exit  # uvicorn's own handling is kept
