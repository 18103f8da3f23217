"""The router's outbox: events are written in the transaction of the change that caused
them, published by the process that made the change as soon as it commits, and by a safety
net for whatever that process did not publish.

``stage`` inserts (once per event id) inside the caller's transaction and returns the
messages it inserted: an event already there is, or was, someone else's to publish.
``Publisher.publish`` sends them right after the commit, then marks their rows: no claim,
no lock, no transaction before the broker has them. ``Publisher.drain`` (the timer loop) is
the safety net: it claims rows still unpublished ``DRAIN_AFTER`` after they were staged,
with ``FOR UPDATE SKIP LOCKED``, publishes them and marks them in the same transaction, so
two replicas' drains never publish the same row at once. A process that dies between its
publish and its mark, or a broker that refused the publish, leaves the rows to the drain,
which publishes them again under the same event ids; consumers drop the copy (the notifier by
``action_id``). On SQLite (one process) a lock stands in for the row locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.bus import Bus, Message
from shared.stage import is_recoverable
from shared.storage.predicates import among
from shared.storage.tables import router_outbox
from shared.storage.writes import insert_ignore_returning

log = logging.getLogger(__name__)

# How long a staged row is its own process's to publish before the safety net takes it: far
# longer than a commit-then-publish takes, short enough for a crash's leftovers.
DRAIN_AFTER = timedelta(seconds=5)


def outbox_row(message: Message, now: datetime) -> dict[str, Any]:
    """The outbox row of ``message``, staged at ``now``."""
    if message.event_id is None:
        raise ValueError(f"an outbox message names its event ({message.topic})")
    return {
        "event_id": message.event_id,
        "topic": message.topic,
        "key": message.key.decode() if message.key is not None else None,
        "value": message.value.decode(),
        "headers": [[name, value.decode()] for name, value in message.headers],
        "created_at": now,
    }


def _message(row: Any) -> Message:
    return Message(
        topic=row.topic,
        value=row.value.encode(),
        key=row.key.encode() if row.key is not None else None,
        headers=tuple((name, value.encode()) for name, value in row.headers),
        event_id=row.event_id,
    )


async def stage(
    conn: AsyncConnection, messages: Sequence[Message], *, now: datetime
) -> list[Message]:
    """Write ``messages`` in the caller's transaction; those it inserted are returned, for
    the caller to publish once committed. An event already there is kept as it is."""
    return await stage_rows(conn, [outbox_row(m, now) for m in messages], messages)


async def stage_rows(
    conn: AsyncConnection, rows: list[dict[str, Any]], messages: Sequence[Message]
) -> list[Message]:
    """``stage`` for outbox rows built already (``outbox_row``), one per message."""
    if not rows:
        return []
    inserted = await insert_ignore_returning(conn, router_outbox, rows, key="event_id")
    return [m for m in messages if m.event_id in inserted]


class Publisher:
    def __init__(
        self,
        engine: AsyncEngine,
        bus: Bus,
        *,
        batch_size: int = 500,
        published: Counter | None = None,
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._published = published  # vigie_events_published_total, by topic
        self._batch_size = batch_size
        # PostgreSQL's row locks keep two drains apart; SQLite has none, so one claim at a
        # time there.
        self._lock: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    async def publish(self, messages: Sequence[Message], *, now: datetime) -> int:
        """Publish what this process staged and committed, now, then mark it published.

        Only messages ``stage`` returned belong here: their rows are new and nobody else
        publishes them before ``DRAIN_AFTER``. Should this fail, the drain has them.
        """
        for start in range(0, len(messages), self._batch_size):
            chunk = messages[start : start + self._batch_size]
            await self._bus.publish(chunk)
            self._count(chunk)
            await self._mark([m.event_id for m in chunk if m.event_id is not None], now)
        return len(messages)

    async def publish_soon(self, messages: Sequence[Message], *, now: datetime) -> int:
        """``publish``, for a change that stands whether or not the broker answers: should it
        be down, the drain publishes the messages later. The number published now."""
        try:
            return await self.publish(messages, now=now)
        except Exception as exc:
            if not is_recoverable(exc):
                raise
            log.warning("events left in the outbox for later: %s", type(exc).__name__)
            return 0

    async def drain(self, *, now: datetime) -> int:
        """Publish every row still unpublished ``DRAIN_AFTER`` after it was staged, oldest
        first (the safety net)."""
        stale = router_outbox.c.created_at <= now - DRAIN_AFTER
        total = 0
        while (count := await self._claim(stale, now)) > 0:
            total += count
        return total

    def _count(self, messages: Sequence[Message]) -> None:
        if self._published is not None:
            for message in messages:
                self._published.labels(message.topic).inc()

    async def _mark(self, event_ids: list[str], now: datetime) -> None:
        """Mark rows published: one statement, on PostgreSQL without a transaction around it
        (atomic on its own), so one round trip."""
        if not event_ids:
            return
        query = (
            update(router_outbox)
            .where(
                among(self._engine.dialect.name, router_outbox.c.event_id, event_ids),
                router_outbox.c.published_at.is_(None),
            )
            .values(published_at=now)
        )
        async with self._engine.connect() as conn:
            if self._engine.dialect.name == "postgresql":
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(query)
            else:
                await conn.execute(query)
                await conn.commit()

    async def pending(self) -> int:
        async with self._engine.connect() as conn:
            query = select(func.count()).where(router_outbox.c.published_at.is_(None))
            return int((await conn.execute(query)).scalar_one())

    async def _claim(self, where: ColumnElement[bool], now: datetime) -> int:
        async with self._lock, self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(router_outbox)
                    .where(router_outbox.c.published_at.is_(None), where)
                    .order_by(router_outbox.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            messages = [_message(row) for row in rows]
            await self._bus.publish(messages)
            self._count(messages)
            await conn.execute(
                update(router_outbox)
                .where(
                    among(self._engine.dialect.name, router_outbox.c.id, [row.id for row in rows])
                )
                .values(published_at=now)
            )
            return len(rows)
