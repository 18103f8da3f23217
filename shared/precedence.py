"""Precedence of a priority lane over the routine lane of the same process.

Both lanes share one event loop. Every time the priority lane awaits the database or the
broker, the routine lane may take the loop for a slice of its batch, and a crisis comment
that needs ten round trips waits for ten slices. While the priority lane has work in hand,
the routine lane therefore waits at its yield points, at most ``max_wait_s`` at a time: the
bound keeps the routine lane moving should the priority lane ever wait on something the
routine lane holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress


async def let_others_run() -> None:
    """A yield point that holds nothing back: the other tasks run once."""
    await asyncio.sleep(0)


class Precedence:
    def __init__(self, *, max_wait_s: float = 0.25) -> None:
        self._max_wait_s = max_wait_s
        self._urgent = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def urgent_work(self) -> bool:
        return self._urgent > 0

    @asynccontextmanager
    async def urgent(self) -> AsyncIterator[None]:
        """Hold the routine lane at its yield points while the block runs."""
        self._urgent += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._urgent -= 1
            if self._urgent == 0:
                self._idle.set()

    async def yield_point(self) -> None:
        """Where the routine lane lets others run: once, or until the urgent work is done
        (at most ``max_wait_s``)."""
        if self._idle.is_set():
            await asyncio.sleep(0)
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self._max_wait_s)
