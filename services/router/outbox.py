"""The router's outbox: events are written in the transaction of the change that caused
them, then published by whoever claims them first.

``stage`` inserts (once per event id) inside the caller's transaction. ``Publisher``
claims unpublished rows with ``FOR UPDATE SKIP LOCKED``, publishes them, and marks them in
the same transaction: two replicas never publish the same row at once, and a process that
dies before the mark leaves the row to be published again under the same event id, which
consumers deduplicate (the notifier by ``action_id``). On SQLite (one process) a lock
stands in for the row locks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import ColumnElement, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.bus import Bus, Message
from shared.storage.predicates import among
from shared.storage.tables import router_outbox
from shared.storage.writes import insert_ignore_many


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


async def stage(conn: AsyncConnection, messages: Sequence[Message], *, now: datetime) -> None:
    """Write ``messages`` in the caller's transaction; an event already there is kept."""
    await insert_ignore_many(conn, router_outbox, [outbox_row(m, now) for m in messages])


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
        # PostgreSQL's row locks keep two claims apart; SQLite has none, so one claim at a
        # time there. On PostgreSQL a crisis's fast path must not queue behind a routine
        # batch's claim, which waits for the broker's acknowledgement.
        self._lock: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    async def publish(self, messages: Sequence[Message], *, now: datetime) -> int:
        """Publish these staged messages now, unless someone already did (the fast path)."""
        ids = [m.event_id for m in messages if m.event_id is not None]
        published = 0
        for start in range(0, len(ids), self._batch_size):
            chunk = ids[start : start + self._batch_size]
            published += await self._claim(
                among(self._engine.dialect.name, router_outbox.c.event_id, chunk), now
            )
        return published

    async def drain(self, *, now: datetime) -> int:
        """Publish every unpublished row, oldest first (the safety net)."""
        total = 0
        while (count := await self._claim(true(), now)) > 0:
            total += count
        return total

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
            if self._published is not None:
                for message in messages:
                    self._published.labels(message.topic).inc()
            await conn.execute(
                update(router_outbox)
                .where(
                    among(self._engine.dialect.name, router_outbox.c.id, [row.id for row in rows])
                )
                .values(published_at=now)
            )
            return len(rows)
