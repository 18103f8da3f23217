"""A background task that calls a coroutine every few seconds until it is stopped.

A failed round is logged (a warning when the broker or the database is away, an error
otherwise) and the next round runs anyway: the work it does is durable and idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from shared.stage import is_recoverable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, tick: Callable[[], Awaitable[object]], poll_s: float) -> None:
        self._name = name
        self._tick = tick
        self._poll_s = poll_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 15.0)
            except TimeoutError:
                self._task.cancel()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._tick()
            except Exception as exc:
                level = logging.WARNING if is_recoverable(exc) else logging.ERROR
                log.log(level, "%s: round failed: %s", self._name, type(exc).__name__, exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._poll_s)
