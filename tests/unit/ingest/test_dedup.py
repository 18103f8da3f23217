"""De-duplication lookups: coalesced, a bounded number of queries at once, failures shared."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.dedup import SeenStore
from tests.unit import factories as f


class GatedStore(SeenStore):
    """Holds every query at a gate, recording which ids each one asked for."""

    def __init__(self, engine: AsyncEngine, *, lookups_in_flight: int) -> None:
        super().__init__(engine, lambda: f.NOW, lookups_in_flight=lookups_in_flight)
        self.queries: list[set[uuid.UUID]] = []
        self.running = 0
        self.most_running = 0
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.fail_with: Exception | None = None

    async def _query(self, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        self.queries.append(set(event_ids))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        self.started.set()
        try:
            await self.gate.wait()
            if self.fail_with is not None:
                raise self.fail_with
            return await super()._query(event_ids)
        finally:
            self.running -= 1


async def started_query(store: GatedStore, ids: list[uuid.UUID]) -> asyncio.Task[set[uuid.UUID]]:
    """A lookup whose query is running (held at the gate)."""
    store.started.clear()
    task = asyncio.create_task(store.seen(ids))
    await asyncio.wait_for(store.started.wait(), 5)
    return task


async def waiting_lookups(store: GatedStore, *ids: uuid.UUID) -> list[asyncio.Task[set[uuid.UUID]]]:
    tasks = [asyncio.create_task(store.seen([i])) for i in ids]
    for _ in range(5):
        await asyncio.sleep(0)  # they queue behind the running queries
    return tasks


@pytest.fixture
async def recorded(engine: AsyncEngine) -> uuid.UUID:
    """One revision already published, in the table (not in the new store's memory)."""
    writer = SeenStore(engine, lambda: f.NOW)
    known = uuid.uuid4()
    writer.remember([(known, "generic")])
    await writer.flush()
    return known


async def test_lookups_arriving_while_the_slots_are_busy_share_the_next_query(
    engine: AsyncEngine, recorded: uuid.UUID
) -> None:
    store = GatedStore(engine, lookups_in_flight=2)
    await store.start()
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    try:
        first = await started_query(store, [a])
        second = await started_query(store, [b, recorded])
        later = await waiting_lookups(store, c, d, recorded)
        assert store.queries == [{a}, {b, recorded}]  # both slots taken, the rest waits

        store.gate.set()
        answers = await asyncio.wait_for(asyncio.gather(first, second, *later), 5)
    finally:
        await store.stop()

    assert store.queries == [{a}, {b, recorded}, {c, d, recorded}]
    assert store.most_running == 2
    assert answers == [set(), {recorded}, set(), set(), {recorded}]


@pytest.mark.parametrize("in_flight", [1, 3])
async def test_no_more_queries_run_at_once_than_allowed(
    engine: AsyncEngine, in_flight: int
) -> None:
    store = GatedStore(engine, lookups_in_flight=in_flight)
    await store.start()
    try:
        running = [await started_query(store, [uuid.uuid4()]) for _ in range(in_flight)]
        waiting = await waiting_lookups(store, *(uuid.uuid4() for _ in range(4)))
        assert len(store.queries) == in_flight
        store.gate.set()
        await asyncio.wait_for(asyncio.gather(*running, *waiting), 5)
    finally:
        await store.stop()
    assert store.most_running == in_flight
    assert len(store.queries) == in_flight + 1


async def test_a_failed_query_fails_each_lookup_it_answers_and_frees_its_slot(
    engine: AsyncEngine,
) -> None:
    store = GatedStore(engine, lookups_in_flight=1)
    await store.start()
    try:
        first = await started_query(store, [uuid.uuid4()])
        waiting = await waiting_lookups(store, uuid.uuid4(), uuid.uuid4())
        store.fail_with = OSError("database unavailable")
        store.gate.set()
        results = await asyncio.gather(first, *waiting, return_exceptions=True)
        assert [type(r) for r in results] == [OSError, OSError, OSError]

        store.fail_with = None
        assert await asyncio.wait_for(store.seen([uuid.uuid4()]), 5) == set()
    finally:
        await store.stop()


async def test_stopping_fails_the_lookups_still_waiting(engine: AsyncEngine) -> None:
    store = GatedStore(engine, lookups_in_flight=1)
    await store.start()
    running = await started_query(store, [uuid.uuid4()])
    (waiting,) = await waiting_lookups(store, uuid.uuid4())

    await store.stop()

    results = await asyncio.gather(running, waiting, return_exceptions=True)
    assert [type(r) for r in results] == [OSError, OSError]
