"""The outbox: the process that staged an event publishes it right after its commit; the
drain takes only what is still unpublished ``DRAIN_AFTER`` later; an event staged again is
not given to publish twice."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.outbox import DRAIN_AFTER, Publisher, stage
from shared.bus import Message
from shared.bus.memory import MemoryBus
from shared.storage.tables import router_outbox
from tests.unit import factories as f


def event(name: str) -> Message:
    return Message(
        "vigie.test.outbox",
        name.encode(),
        key=b"case",
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
    )


async def staged(engine: AsyncEngine, messages: list[Message]) -> list[Message]:
    async with engine.begin() as conn:
        return await stage(conn, messages, now=f.NOW)


async def unpublished(engine: AsyncEngine) -> list[bytes]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(router_outbox.c.value).where(router_outbox.c.published_at.is_(None))
        )
        return [value.encode() for value in rows.scalars()]


def values(bus: MemoryBus) -> list[bytes]:
    return [r.value for r in bus.records("vigie.test.outbox")]


async def test_the_stager_publishes_at_once_and_the_drain_finds_nothing_left(
    engine: AsyncEngine,
) -> None:
    bus = MemoryBus()
    publisher = Publisher(engine, bus)
    messages = await staged(engine, [event("opened"), event("page")])

    assert await publisher.publish(messages, now=f.NOW) == 2
    assert values(bus) == [b"opened", b"page"]
    assert await unpublished(engine) == []
    assert await publisher.drain(now=f.NOW + DRAIN_AFTER * 10) == 0
    assert values(bus) == [b"opened", b"page"]


async def test_the_drain_leaves_a_fresh_row_to_its_process_then_takes_it(
    engine: AsyncEngine,
) -> None:
    bus = MemoryBus()
    publisher = Publisher(engine, bus)
    await staged(engine, [event("left behind")])  # committed; its process died before publishing

    assert await publisher.drain(now=f.NOW + DRAIN_AFTER - timedelta(seconds=1)) == 0
    assert values(bus) == []
    assert await publisher.drain(now=f.NOW + DRAIN_AFTER) == 1
    assert values(bus) == [b"left behind"]
    assert await unpublished(engine) == []


async def test_an_event_staged_again_is_not_given_to_publish_twice(engine: AsyncEngine) -> None:
    first = await staged(engine, [event("opened")])
    again = await staged(engine, [event("opened"), event("updated")])

    assert [m.value for m in first] == [b"opened"]
    assert [m.value for m in again] == [b"updated"]
