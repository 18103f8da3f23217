"""Durable de-duplication of comment revisions: a platform's redelivery is dropped.

The order is check -> publish -> remember. Remembering only after the broker acknowledged
means a failed publish is never mistaken for a duplicate when the platform retries (nothing
is lost). A crash between publish and remember lets one duplicate through on redelivery;
the pipeline downstream is idempotent by event id, so that costs a little work, not a page.

Lookups go to a bounded in-memory set first, then to the ``ingest_seen`` table, which makes
the decision hold across restarts and replicas. Concurrent lookups are coalesced: while one
query runs, the ids that arrive meanwhile wait for the next, so a burst of webhooks costs a
few queries rather than one connection checkout each (that checkout was most of ingest's
CPU). Writes are batched in the background so the webhook's answer never waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ARRAY, String, any_, bindparam, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.runtime import Clock
from shared.storage.tables import ingest_seen
from shared.storage.writes import insert_ignore_many

log = logging.getLogger(__name__)

_LOOKUP_CHUNK = 500
_LOOKUP_ANY = select(ingest_seen.c.event_id).where(
    ingest_seen.c.event_id == any_(bindparam("ids", type_=ARRAY(String(36))))
)


@dataclass(frozen=True, slots=True)
class _Lookup:
    ids: Sequence[uuid.UUID]
    answer: asyncio.Future[set[uuid.UUID]]


class SeenStore:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        *,
        cache_size: int = 100_000,
        flush_interval_s: float = 0.05,
        retention: timedelta = timedelta(days=30),
        max_pending: int = 200_000,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._cache: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._cache_size = cache_size
        self._pending: dict[uuid.UUID, tuple[str, datetime]] = {}
        self._flush_interval_s = flush_interval_s
        self._retention = retention
        self._max_pending = max_pending
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_prune: datetime | None = None
        self._lookups: list[_Lookup] = []
        self._lookup_wake = asyncio.Event()
        self._lookup_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="ingest-seen-writer")
        self._lookup_task = asyncio.create_task(self._looker(), name="ingest-seen-lookups")

    async def stop(self) -> None:
        for task in (self._task, self._lookup_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._lookup_task = None
        for lookup in self._lookups:
            if not lookup.answer.done():
                lookup.answer.set_exception(OSError("de-duplication store stopped"))
        self._lookups.clear()
        with contextlib.suppress(SQLAlchemyError, OSError):
            await self.flush()
        if self._pending:
            log.warning("%d seen revisions not recorded at shutdown", len(self._pending))

    def _cached(self, event_id: uuid.UUID) -> bool:
        if event_id in self._cache:
            self._cache.move_to_end(event_id)
            return True
        return event_id in self._pending

    async def seen(self, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of ``event_ids`` were already published (raises when the database fails)."""
        found = {e for e in event_ids if self._cached(e)}
        unknown = [e for e in event_ids if e not in found]
        if unknown:
            if self._lookup_task is None:
                found |= await self._query(unknown)
            else:
                lookup = _Lookup(unknown, asyncio.get_running_loop().create_future())
                self._lookups.append(lookup)
                self._lookup_wake.set()
                found |= await lookup.answer
        for event_id in found:
            self._remember_locally(event_id)
        return found

    async def _query(self, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        unknown = sorted({str(e) for e in event_ids})
        found: set[uuid.UUID] = set()
        for start in range(0, len(unknown), _LOOKUP_CHUNK):
            chunk = unknown[start : start + _LOOKUP_CHUNK]
            async with self._engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    # One array parameter: compiled once, not one bind per id.
                    rows = await conn.execute(_LOOKUP_ANY, {"ids": chunk})
                else:
                    rows = await conn.execute(
                        select(ingest_seen.c.event_id).where(ingest_seen.c.event_id.in_(chunk))
                    )
                found.update(uuid.UUID(r[0]) for r in rows)
        return found

    async def _looker(self) -> None:
        """Answer every waiting lookup with one query per round."""
        while True:
            await self._lookup_wake.wait()
            self._lookup_wake.clear()
            waiting, self._lookups = self._lookups, []
            waiting = [lookup for lookup in waiting if not lookup.answer.done()]
            if not waiting:
                continue
            try:
                hits = await self._query([e for lookup in waiting for e in lookup.ids])
            except Exception as exc:  # every waiting caller decides what a failure means
                for lookup in waiting:
                    if not lookup.answer.done():
                        lookup.answer.set_exception(exc)
                continue
            for lookup in waiting:
                if not lookup.answer.done():
                    lookup.answer.set_result(hits.intersection(lookup.ids))

    def remember(self, items: Iterable[tuple[uuid.UUID, str]]) -> None:
        """Record published revisions (``(event_id, platform)``); written in the background."""
        now = self._clock()
        for event_id, platform in items:
            self._remember_locally(event_id)
            self._pending[event_id] = (platform, now)
        if len(self._pending) > self._max_pending:
            # The database has been away for long: keep memory bounded. Forgetting a record
            # lets at most one redelivery through, which the pipeline absorbs.
            for event_id in list(self._pending)[: len(self._pending) - self._max_pending]:
                del self._pending[event_id]
        self._wake.set()

    def _remember_locally(self, event_id: uuid.UUID) -> None:
        if self._cache_size <= 0:
            return
        self._cache[event_id] = None
        self._cache.move_to_end(event_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def flush(self) -> None:
        """Write what is pending; on failure it stays pending for the next attempt."""
        if not self._pending:
            return
        batch = dict(self._pending)
        rows = [
            {"event_id": str(e), "platform": platform, "seen_at": at}
            for e, (platform, at) in batch.items()
        ]
        async with self._engine.begin() as conn:
            await insert_ignore_many(conn, ingest_seen, rows)
        for event_id in batch:
            self._pending.pop(event_id, None)
        await self._maybe_prune()

    async def _maybe_prune(self) -> None:
        now = self._clock()
        if self._last_prune is not None and now - self._last_prune < timedelta(hours=1):
            return
        self._last_prune = now
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(ingest_seen).where(ingest_seen.c.seen_at < now - self._retention)
            )

    async def _writer(self) -> None:
        backoff = self._flush_interval_s
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self._flush_interval_s)  # let a burst gather into one write
            try:
                await self.flush()
                backoff = self._flush_interval_s
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not record seen revisions, will retry: %s", exc)
                backoff = min(backoff * 2, 5.0)
                await asyncio.sleep(backoff)
                self._wake.set()
