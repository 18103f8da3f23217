"""What an event loop of the tests must not leave open when it closes.

A connection that is opened while its owner shuts down (a client reconnecting as it is
stopped, a server accepting as it exits) can outlive every close call and stay open when its
loop is closed. The socket is then freed by a later garbage collection, in whichever test is
running or at the very end of the session, as an "unclosed transport" warning that names no
culprit. Closing what is left while the loop can still run ends each such socket where it was
opened, and ``LEFT_OPEN`` keeps its peer for the run's summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LEFT_OPEN: list[str] = []  # "where: peer" of each transport closed here, for the summary


def _open_transports(loop: asyncio.AbstractEventLoop) -> list[asyncio.BaseTransport]:
    # Selector loops map each file descriptor to its transport (weakly); asyncio has no
    # public way to list them.
    registry = getattr(loop, "_transports", None)
    if registry is None:
        return []
    return [t for t in list(registry.values()) if not t.is_closing()]


def close_left_open(loop: asyncio.AbstractEventLoop, where: str) -> int:
    """Close every transport still open on ``loop``; the caller lets the loop run once more
    so that the sockets are released. Returns how many there were."""
    left = _open_transports(loop)
    for transport in left:
        LEFT_OPEN.append(f"{where}: {transport.get_extra_info('peername')}")
        transport.close()
    return len(left)


async def close_left_open_here(where: str) -> None:
    """``close_left_open`` on the running loop, then the turns that release the sockets."""
    if close_left_open(asyncio.get_running_loop(), where):
        for _ in range(3):
            await asyncio.sleep(0)


def run_on_own_loop(coro: Coroutine[Any, Any, T], where: str) -> T:
    """Run ``coro`` on a new loop, never made current (the tests' own loop stays in place),
    and close that loop with nothing left open on it."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        try:
            return runner.run(coro)
        finally:
            runner.run(close_left_open_here(where))
