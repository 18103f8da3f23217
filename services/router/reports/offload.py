"""Reports are made in a process of their own, away from the router's event loop.

Reading a period's comments and aggregating them is seconds of Python CPU (about 50 µs a
comment: five seconds for a week of 100,000 comments), and the router's event loop also
routes crisis comments: made there, a report would hold every crisis for as long. The API
and the report schedule therefore hand the work to one worker process, started on the first
report and kept for the next ones. It runs at the lowest CPU priority, opens its own
database connection for each report, and ends when the router does (Linux: it asks the
kernel to be killed when its parent dies, so a router killed with SIGKILL leaves no worker
behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.policy.config import Policy
from services.router.reports.fetch import ack_deadlines
from services.router.reports.generate import report_of
from services.router.reports.model import Report
from services.router.reports.period import Period
from shared.cpu_priority import lower_priority
from shared.storage.engine import create_engine

P = ParamSpec("P")
T = TypeVar("T")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _end_with_parent(parent: int) -> None:
    """In the worker, at its start: the lowest CPU priority, and death with the parent."""
    lower_priority()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def _worker_pool() -> ProcessPoolExecutor:
    """The process-wide pool, started on first use ("spawn": the router has threads)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_end_with_parent,
                initargs=(os.getpid(),),
            )
        return _pool


async def in_worker(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args)`` in the worker process (a module-level function; its arguments
    and result are pickled). A worker that died is replaced for the next call."""
    global _pool
    pool = _worker_pool()
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(pool, functools.partial(function, *args, **kwargs))
    except BrokenProcessPool:
        with _pool_lock:
            if _pool is pool:
                _pool = None
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def _report(
    database_url: str, period: Period, deadlines: Mapping[str, timedelta], now: datetime
) -> Report:
    """In the worker: the report, read on a connection of its own."""

    async def made() -> Report:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return await report_of(conn, period, deadlines=deadlines, now=now)
        finally:
            await engine.dispose()

    return asyncio.run(made())


async def make_report(
    engine: AsyncEngine, period: Period, *, policy: Policy, now: datetime
) -> Report:
    """``generate.make_report``'s report, made in the worker process."""
    url = engine.url.render_as_string(hide_password=False)
    return await in_worker(_report, url, period, ack_deadlines(policy), now)


def shutdown() -> None:
    """Stop the worker (tests; the interpreter's exit does it otherwise)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
