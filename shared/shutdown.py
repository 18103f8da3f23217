"""That the server has begun to shut down, for responses that would otherwise hold it.

A long response (the console's event stream) waits on ``Shutdown.wait`` and ends at once
when the server is asked to stop, instead of holding the stop for the whole graceful
period. ``begin`` is called from a signal handler, which Python runs on the main thread
between any two bytecodes, possibly in the middle of the event loop's own work: so it only
flips a flag and hands each waiter to its loop with ``call_soon_threadsafe``, which is safe
there and wakes a loop asleep in ``select``.
"""

from __future__ import annotations

import asyncio
import contextlib


class Shutdown:
    """Begun once, never reset; awaited from any event loop."""

    def __init__(self) -> None:
        self._begun = False
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def begun(self) -> bool:
        return self._begun

    def begin(self) -> None:
        self._begun = True
        for waiter in list(self._waiters):
            # A loop already closed has nobody left to wake.
            with contextlib.suppress(RuntimeError):
                waiter.get_loop().call_soon_threadsafe(_release, waiter)

    async def wait(self) -> None:
        """Return once shutdown has begun (at once if it already has)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Registered before the flag is read: a ``begin`` in between still finds it.
        self._waiters.add(waiter)
        try:
            if not self._begun:
                await waiter
        finally:
            self._waiters.discard(waiter)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


SERVER_SHUTDOWN = Shutdown()
"""This process's: ``shared.serve`` begins it when uvicorn is told to exit (SIGINT, SIGTERM)."""
