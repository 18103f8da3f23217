"""Durable de-duplication of comment revisions: a platform's redelivery is dropped.

The order is check -> publish -> remember. Remembering only after the broker acknowledged
means a failed publish is never mistaken for a duplicate when the platform retries (nothing
is lost). A crash between publish and remember lets one duplicate through on redelivery;
the pipeline downstream is idempotent by event id, so that costs a little work, not a page.

Lookups go to a bounded in-memory set first, then to the ``ingest_seen`` table, which makes
the decision hold across restarts and replicas. Concurrent lookups are coalesced: while
``lookups_in_flight`` queries run, the ids that arrive meanwhile wait for the next one, so a
burst of webhooks costs a few queries rather than one connection checkout each, and a lookup
waits for at most part of a query before its own starts. Writes are batched in the
background so the webhook's answer never waits for them.

On PostgreSQL both statements go through a few connections of the driver's own
(``services.ingest.connections``): each webhook pays for part of a lookup and part of a
write, and a pool's checkout and return cost more than the statements do.
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

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.connections import DriverConnections
from shared.runtime import Clock
from shared.storage.tables import ingest_seen
from shared.storage.writes import insert_ignore_many

log = logging.getLogger(__name__)

_LOOKUP_CHUNK = 500
# Array parameters: statements the driver prepares once per connection, whatever the count.
_LOOKUP_ANY = f"SELECT event_id FROM {ingest_seen.name} WHERE event_id = ANY($1::varchar[])"
_RECORD_UNNEST = (
    f"INSERT INTO {ingest_seen.name} (event_id, platform, seen_at) "
    "SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::timestamptz[]) "
    "ON CONFLICT (event_id) DO NOTHING"
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
        lookups_in_flight: int = 2,
    ) -> None:
        self._engine = engine
        # Lookups in flight plus the writer's statement.
        self._driver = DriverConnections.for_engine(engine, size=max(1, lookups_in_flight) + 1)
        self._clock = clock
        # Keyed by the ids' integers: plain ints are not tracked by the garbage collector,
        # so a full cache does not lengthen every full collection (UUID objects are).
        self._cache: OrderedDict[int, None] = OrderedDict()
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
        self._lookup_slots = asyncio.Semaphore(max(1, lookups_in_flight))
        self._answering: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="ingest-seen-writer")
        self._lookup_task = asyncio.create_task(self._looker(), name="ingest-seen-lookups")

    async def stop(self) -> None:
        for task in (self._task, self._lookup_task, *self._answering):
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
        if self._driver is not None:
            await self._driver.close()

    def _cached(self, event_id: uuid.UUID) -> bool:
        if event_id.int in self._cache:
            self._cache.move_to_end(event_id.int)
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
            if self._driver is not None:
                found.update(
                    uuid.UUID(r) for r in await self._driver.fetch_column(_LOOKUP_ANY, chunk)
                )
                continue
            async with self._engine.connect() as conn:
                rows = await conn.execute(
                    select(ingest_seen.c.event_id).where(ingest_seen.c.event_id.in_(chunk))
                )
                found.update(uuid.UUID(r[0]) for r in rows)
        return found

    async def _looker(self) -> None:
        """Answer the lookups waiting when a query slot is free, all with one query."""
        while True:
            await self._lookup_wake.wait()
            await self._lookup_slots.acquire()
            self._lookup_wake.clear()
            waiting, self._lookups = self._lookups, []
            waiting = [lookup for lookup in waiting if not lookup.answer.done()]
            if not waiting:
                self._lookup_slots.release()
                continue
            task = asyncio.create_task(self._answer(waiting), name="ingest-seen-lookup")
            self._answering.add(task)
            task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task[None]) -> None:
        self._answering.discard(task)
        self._lookup_slots.release()

    async def _answer(self, waiting: list[_Lookup]) -> None:
        try:
            hits = await self._query([e for lookup in waiting for e in lookup.ids])
        except BaseException as exc:  # every waiting caller decides what a failure means
            failure = exc if isinstance(exc, Exception) else OSError("lookup cancelled")
            for lookup in waiting:
                if not lookup.answer.done():
                    lookup.answer.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
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
        self._cache[event_id.int] = None
        self._cache.move_to_end(event_id.int)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def flush(self) -> None:
        """Write what is pending; on failure it stays pending for the next attempt."""
        if not self._pending:
            return
        batch = dict(self._pending)
        if self._driver is not None:
            await self._driver.execute(
                _RECORD_UNNEST,
                [str(e) for e in batch],
                [platform for platform, _ in batch.values()],
                [at for _, at in batch.values()],
            )
        else:
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
