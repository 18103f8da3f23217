"""Reports are made in a worker process of the lowest CPU priority, away from the event loop
that routes crisis comments: the same report as made in place, a worker that dies replaced
(tests/integration/test_report_worker.py: none left behind by a router killed with
SIGKILL)."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool
from datetime import date

import pytest

from services.router.policy.config import Policy
from services.router.reports import offload
from services.router.reports.generate import make_report
from services.router.reports.period import PeriodKind, ending
from shared.cpu_priority import LOWEST_PRIORITY
from shared.runtime import Runtime
from tests.unit import factories as f
from tests.unit.router.conftest import Router, prepared_router
from tests.unit.router.test_api import opened


def worker_facts() -> tuple[int, int, int]:
    """Run in the worker: its pid, its CPU priority and its parent's pid."""
    return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0), os.getppid()


async def test_the_worker_makes_the_report_made_in_place(runtime: Runtime, policy: Policy) -> None:
    router: Router = await prepared_router(runtime, policy)
    await opened(router)
    await opened(router, f.sensitive(f.comment("forum:c-2", author_id="a-2")))
    week = ending(PeriodKind.WEEK, date(2026, 11, 21))

    offloaded = await offload.make_report(runtime.engine, week, policy=policy, now=f.NOW)
    async with runtime.engine.connect() as conn:
        in_place = await make_report(conn, week, policy=policy, now=f.NOW)

    assert offloaded.cases_opened == 2
    assert offloaded == in_place


async def test_the_worker_is_another_process_of_the_lowest_priority() -> None:
    pid, priority, parent = await offload.in_worker(worker_facts)
    again, _, _ = await offload.in_worker(worker_facts)

    assert pid != os.getpid() and parent == os.getpid()
    assert priority == LOWEST_PRIORITY
    assert again == pid  # kept for the next report


async def test_a_worker_that_died_is_replaced_for_the_next_report() -> None:
    before, _, _ = await offload.in_worker(worker_facts)

    with pytest.raises(BrokenProcessPool):
        await offload.in_worker(os._exit, 3)
    after, _, _ = await offload.in_worker(worker_facts)

    assert after != before
