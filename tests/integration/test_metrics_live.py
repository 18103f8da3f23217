"""Consumer lag and DLQ depth on the real broker: the gauges report the broker's numbers."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from shared.bus import Message, Record
from shared.bus.kafka import KafkaBus
from shared.metrics import Backlog, BacklogGauges
from shared.topics import dlq

pytestmark = pytest.mark.integration

PARTITIONS = 2


def lag_of(registry: CollectorRegistry, group: str, topic: str) -> list[float | None]:
    return [
        registry.get_sample_value(
            "vigie_consumer_lag_records", {"group": group, "topic": topic, "partition": str(p)}
        )
        for p in range(PARTITIONS)
    ]


async def test_lag_and_dlq_gauges_follow_the_broker(kafka_bootstrap: str) -> None:
    topic = f"vigie.test.lag.{uuid.uuid4().hex[:10]}"
    group = f"vigie-test-lag-{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(kafka_bootstrap, client_id="vigie-metrics-test", partitions=PARTITIONS)
    await bus.start()
    try:
        await bus.ensure_topics([topic, dlq(topic)])
        await bus.publish(
            [Message(topic, f"r{i}".encode(), key=f"k{i}".encode()) for i in range(7)]
        )
        await bus.publish([Message(dlq(topic), b"poison", key=b"k0") for _ in range(3)])
        consumer = await bus.consumer([topic], group=group)
        try:
            polled: list[Record] = []
            for _ in range(60):  # joins the group, then reads all 7
                polled += await consumer.poll(max_records=100, timeout_s=0.5)
                if len(polled) >= 7:
                    break
            assert len(polled) == 7

            registry = CollectorRegistry()
            backlog = Backlog(
                BacklogGauges(registry), consumer, group=group, dlq_topics=[dlq(topic)]
            )
            await backlog.read()  # read, not committed: the group is 7 records behind
            behind = lag_of(registry, group, topic)
            assert None not in behind and sum(v or 0 for v in behind) == 7
            assert registry.get_sample_value("vigie_dlq_records", {"topic": dlq(topic)}) == 3

            await consumer.commit(polled)
            await backlog.read()
            assert lag_of(registry, group, topic) == [0] * PARTITIONS
            exposed = generate_latest(registry).decode()
            assert f'vigie_dlq_records{{topic="{dlq(topic)}"}} 3.0' in exposed
        finally:
            await consumer.close()
    finally:
        await bus.stop()
