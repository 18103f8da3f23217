"""One contract, two buses: what every stage relies on holds on Kafka as in memory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from shared.bus import Bus, Message, Record
from shared.bus.kafka import KafkaBus
from shared.bus.memory import MemoryBus

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "kafka"])
async def bus(request: pytest.FixtureRequest, kafka_bootstrap: str) -> AsyncIterator[Bus]:
    bus: Bus
    if request.param == "memory":
        bus = MemoryBus(partitions=3)
    else:
        bus = KafkaBus(kafka_bootstrap, client_id="vigie-contract-test", partitions=3)
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
def topic() -> str:
    return f"vigie.test.{uuid.uuid4().hex[:10]}"


async def drain(bus: Bus, topic: str, group: str, want: int, *, commit: bool) -> list[Record]:
    consumer = await bus.consumer([topic], group=group)
    got: list[Record] = []
    try:
        for _ in range(60):
            batch = await consumer.poll(max_records=100, timeout_s=0.5)
            got.extend(batch)
            if commit and batch:
                await consumer.commit(batch)
            if len(got) >= want:
                break
    finally:
        await consumer.close()
    return got


async def test_published_messages_come_back_in_key_order_with_headers(bus: Bus, topic: str) -> None:
    await bus.ensure_topics([topic])
    messages = [
        Message(topic, f"{key}-{i}".encode(), key=key.encode(), headers=(("trace_id", b"t"),))
        for i in range(5)
        for key in ("a", "b", "c")
    ]
    await bus.publish(messages)
    got = await drain(bus, topic, f"g-{uuid.uuid4().hex}", len(messages), commit=True)
    assert len(got) == len(messages)
    for key in ("a", "b", "c"):
        values = [r.value.decode() for r in got if r.key == key.encode()]
        assert values == [f"{key}-{i}" for i in range(5)]
    assert all(r.header("trace_id") == b"t" for r in got)


async def test_uncommitted_records_are_redelivered_to_the_group(bus: Bus, topic: str) -> None:
    await bus.ensure_topics([topic])
    await bus.publish([Message(topic, str(i).encode(), key=b"k") for i in range(4)])
    group = f"g-{uuid.uuid4().hex}"
    first = await drain(bus, topic, group, 4, commit=False)
    assert [r.value for r in first] == [b"0", b"1", b"2", b"3"]
    again = await drain(bus, topic, group, 4, commit=False)
    assert [r.value for r in again] == [b"0", b"1", b"2", b"3"]


async def test_committed_records_are_not_redelivered(bus: Bus, topic: str) -> None:
    await bus.ensure_topics([topic])
    await bus.publish([Message(topic, str(i).encode(), key=b"k") for i in range(3)])
    group = f"g-{uuid.uuid4().hex}"
    assert len(await drain(bus, topic, group, 3, commit=True)) == 3
    await bus.publish([Message(topic, b"3", key=b"k")])
    later = await drain(bus, topic, group, 1, commit=True)
    assert [r.value for r in later] == [b"3"]


async def test_each_group_gets_every_record(bus: Bus, topic: str) -> None:
    await bus.ensure_topics([topic])
    await bus.publish([Message(topic, str(i).encode(), key=str(i).encode()) for i in range(6)])
    one, two = await asyncio.gather(
        drain(bus, topic, f"g1-{uuid.uuid4().hex}", 6, commit=True),
        drain(bus, topic, f"g2-{uuid.uuid4().hex}", 6, commit=True),
    )
    assert (
        sorted(r.value for r in one)
        == sorted(r.value for r in two)
        == [str(i).encode() for i in range(6)]
    )


async def test_ping_reports_a_reachable_broker(bus: Bus) -> None:
    assert await bus.ping() is True


async def test_a_group_prefix_gives_each_deployment_its_own_groups(
    kafka_bootstrap: str, topic: str
) -> None:
    """Two deployments on one cluster, same group name, different prefixes: each reads and
    commits on its own, so a commit by one leaves the other's position untouched."""
    buses = [
        KafkaBus(kafka_bootstrap, client_id="vigie-prefix-test", group_prefix=f"{name}-")
        for name in ("staging", "production")
    ]
    for one in buses:
        await one.start()
    try:
        await buses[0].ensure_topics([topic])
        messages = [Message(topic, f"m-{i}".encode(), key=b"k") for i in range(6)]
        await buses[0].publish(messages)
        group = f"g-{uuid.uuid4().hex}"
        first = await drain(buses[0], topic, group, len(messages), commit=True)
        second = await drain(buses[1], topic, group, len(messages), commit=True)
        again = await drain(buses[0], topic, group, 1, commit=False)
    finally:
        for one in buses:
            await one.stop()
    assert [r.value for r in first] == [m.value for m in messages]
    assert [r.value for r in second] == [m.value for m in messages]
    assert again == []  # the first deployment's commit stands


async def test_urgent_topics_have_a_producer_of_their_own_and_keep_their_order(
    kafka_bootstrap: str, topic: str
) -> None:
    """A crisis lane's messages do not wait in the routine producer's queue; each topic
    still keeps its messages in order, and one publish of both kinds is acknowledged as
    one."""
    urgent = f"{topic}.urgent"
    bus = KafkaBus(kafka_bootstrap, client_id="vigie-urgent-test", urgent_topics=[urgent])
    await bus.start()
    try:
        await bus.ensure_topics([topic, urgent])
        assert bus._producer_for(urgent) is not bus._producer_for(topic)
        mixed = [
            Message(name, f"{name[-6:]}-{i}".encode(), key=b"k")
            for i in range(20)
            for name in (topic, urgent)
        ]
        await bus.publish(mixed)
        routine = await drain(bus, topic, f"g-{uuid.uuid4().hex}", 20, commit=True)
        crisis = await drain(bus, urgent, f"g-{uuid.uuid4().hex}", 20, commit=True)
    finally:
        await bus.stop()
    assert [r.value for r in routine] == [m.value for m in mixed if m.topic == topic]
    assert [r.value for r in crisis] == [m.value for m in mixed if m.topic == urgent]
