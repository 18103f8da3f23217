"""Live updates of the inbox: a server-sent-events stream of case changes.

Each poll reads the cases updated since a cursor, minus a small overlap (a transaction that
started earlier may commit a little later than one we saw), and sends those not already sent
in the same state. The cursor travels as the event id, so a browser that reconnects (it
does so by itself) resumes where it was with ``Last-Event-ID``. A comment line goes out as
a heartbeat when nothing changes, and the stream ends after a while so that the browser
reconnects and the session is checked again. It also ends, between two polls, as soon as the
server begins to shut down: an open inbox does not hold the server's stop, and the browser
reconnects (to another replica, or to this one once restarted).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.console.views import summary
from shared.storage.tables import cases

OVERLAP = timedelta(seconds=5)
RETRY_MS = 2000


def parse_cursor(value: str | None, *, default: datetime) -> datetime:
    if not value:
        return default
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return default
    return moment if moment.tzinfo else default


def fresh(
    found: list[dict[str, Any]], sent: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The cases in ``found`` not yet sent in this state, and what has been sent since."""
    new = [case for case in found if sent.get(case["id"]) != case["updated_at"]]
    return new, sent | {case["id"]: case["updated_at"] for case in new}


def frame(case: dict[str, Any], cursor: datetime) -> str:
    return f"id: {cursor.isoformat()}\nevent: case\ndata: {json.dumps(case)}\n\n"


async def changed_since(engine: AsyncEngine, since: datetime) -> list[dict[str, Any]]:
    query = select(cases).where(cases.c.updated_at > since).order_by(cases.c.updated_at).limit(500)
    async with engine.connect() as conn:
        return [summary(row) for row in (await conn.execute(query)).all()]


async def case_changes(
    engine: AsyncEngine,
    *,
    cursor: datetime,
    poll: Callable[[], Awaitable[None]],
    polls: int,
    heartbeat_every: int,
    ended: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> AsyncIterator[str]:
    """At most ``polls`` polls, each after ``poll()`` returns (it waits): the caller owns
    time. The stream ends early, without waiting for ``poll()``, once ``ended()`` returns
    (the server's shutdown); without ``ended``, only after its polls."""
    yield f"retry: {RETRY_MS}\n: connected\n\n"
    sent: dict[str, str] = {}
    quiet = 0
    ending: asyncio.Future[None] = (
        asyncio.create_task(ended()) if ended else asyncio.get_running_loop().create_future()
    )
    try:
        for _ in range(polls):
            if ending.done():
                return
            found = await changed_since(engine, cursor - OVERLAP)
            new, sent = fresh(found, sent)
            for case in new:
                cursor = max(cursor, datetime.fromisoformat(case["updated_at"]))
            for case in new:
                yield frame(case, cursor)
            quiet = 0 if new else quiet + 1
            if quiet and quiet % heartbeat_every == 0:
                yield ": heartbeat\n\n"
            if await _ends_first(ending, poll()):
                return
    finally:
        ending.cancel()


async def _ends_first(ending: asyncio.Future[None], wait: Awaitable[None]) -> bool:
    """Wait for ``wait`` or ``ending``, whichever comes first; True when ``ending`` did."""
    waiting = asyncio.ensure_future(wait)
    try:
        await asyncio.wait({ending, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    for done in (waiting, ending):
        if done.done() and not done.cancelled():
            done.result()  # an error of either is the stream's
    return ending.done()


def sleeper(seconds: float) -> Callable[[], Awaitable[None]]:
    async def wait() -> None:
        await asyncio.sleep(seconds)

    return wait
