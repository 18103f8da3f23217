"""The tests' own loops close with nothing left open on them (``tests/loops.py``)."""

from __future__ import annotations

import asyncio
import gc

from tests import loops


async def connect_and_leave_open() -> str:
    """A loopback connection whose two ends nobody closes, kept alive by a cycle."""
    accepted: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while not accepted:
        await asyncio.sleep(0)
    cycle: dict[str, object] = {"writer": writer, "accepted": accepted}
    cycle["self"] = cycle
    server.close()
    await server.wait_closed()
    return "answer"


def test_a_connection_left_open_is_closed_with_its_loop_and_named() -> None:
    before = len(loops.LEFT_OPEN)

    answer = loops.run_on_own_loop(connect_and_leave_open(), "a test loop")
    gc.collect()  # an open socket freed here would fail this test as an unraisable warning

    assert answer == "answer"
    left = loops.LEFT_OPEN[before:]
    assert len(left) == 2  # the client's end and the server's
    assert all(line.startswith("a test loop: ('127.0.0.1', ") for line in left)
    del loops.LEFT_OPEN[before:]  # closed on purpose: not for the run's summary


def test_a_loop_with_nothing_open_reports_nothing() -> None:
    async def quiet() -> int:
        await asyncio.sleep(0)
        return 7

    before = len(loops.LEFT_OPEN)
    assert loops.run_on_own_loop(quiet(), "a quiet loop") == 7
    assert loops.LEFT_OPEN[before:] == []
