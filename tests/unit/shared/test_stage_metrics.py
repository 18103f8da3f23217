"""What every stage reports beyond its records: consumer lag and DLQ depth (read from the
bus when scraped, never per record), the age of the comments it handles, the build info."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from shared.bus import Message, PartitionOffsets, Record
from shared.bus.memory import MemoryBus
from shared.codec import decoder, to_message
from shared.events import Comment, CommentKind
from shared.metrics import (
    Backlog,
    BacklogGauges,
    StageMetrics,
    age_seconds,
    build_info,
    comment_time,
    held,
    lag,
    vigie_version,
)
from shared.stage import Decoded, Stage
from shared.topics import dlq
from tests.unit import factories as f
from tests.unit.factories import eventually

TOPIC = "vigie.test.in.v1"
GROUP = "test-group"


@pytest.mark.parametrize(
    ("beginning", "end", "committed", "behind"),
    [
        (0, 10, None, 10),  # the group never committed: all of it
        (3, 10, None, 7),  # ... of what retention kept
        (0, 10, 4, 6),
        (0, 10, 10, 0),  # caught up
        (5, 10, 2, 5),  # its position fell off retention: it restarts at the beginning
        (0, 0, None, 0),  # an empty partition
        (0, 5, 7, 0),  # never negative
    ],
)
def test_lag_is_what_the_group_has_still_to_read(
    beginning: int, end: int, committed: int | None, behind: int
) -> None:
    assert lag(PartitionOffsets(TOPIC, 0, beginning, end, committed)) == behind


def test_a_topic_holds_what_lies_between_its_partitions_beginnings_and_ends() -> None:
    offsets = [
        PartitionOffsets("a.dlq", 0, 0, 4),
        PartitionOffsets("a.dlq", 1, 2, 3),
        PartitionOffsets("b.dlq", 0, 7, 7),
    ]
    assert held(offsets) == {"a.dlq": 5, "b.dlq": 0}


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def messages(n: int, topic: str = TOPIC) -> list[Message]:
    return [Message(topic=topic, value=b"x", key=f"k{i}".encode()) for i in range(n)]


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_backlog_reports_the_lag_and_dlq_depth_of_the_memory_bus() -> None:
    bus, registry, ticks = MemoryBus(partitions=2), CollectorRegistry(), Ticks()
    consumer = await bus.consumer([TOPIC], group=GROUP)
    backlog = Backlog(
        BacklogGauges(registry), consumer, group=GROUP, dlq_topics=[dlq(TOPIC)], monotonic=ticks
    )
    await bus.publish(messages(7))
    await bus.publish(messages(3, dlq(TOPIC)))

    def behind() -> list[float | None]:
        return [
            value(registry, "vigie_consumer_lag_records", group=GROUP, topic=TOPIC, partition=p)
            for p in ("0", "1")
        ]

    await backlog.refresh()
    assert sum(v or 0 for v in behind()) == 7
    assert value(registry, "vigie_dlq_records", topic=dlq(TOPIC)) == 3

    await consumer.commit(await consumer.poll(max_records=100, timeout_s=0.01))
    await backlog.refresh()  # within max_age: nothing is read
    assert sum(v or 0 for v in behind()) == 7
    ticks.now += 5.0
    await backlog.refresh()
    assert behind() == [0, 0]
    await consumer.close()


class Reassigned:
    """A consumer whose assignment the test changes, as a rebalance would."""

    def __init__(self) -> None:
        self.assigned = [PartitionOffsets(TOPIC, 0, 0, 5, 1), PartitionOffsets(TOPIC, 1, 0, 9, 0)]
        self.fail = False

    async def offsets(self) -> list[PartitionOffsets]:
        if self.fail:
            raise OSError("broker unreachable")
        return self.assigned

    async def topic_offsets(self, topics: Sequence[str]) -> list[PartitionOffsets]:
        return []

    async def poll(self, *, max_records: int, timeout_s: float) -> list[Record]:
        return []

    async def commit(self, records: Sequence[Record]) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_a_partition_that_moved_to_another_replica_is_no_longer_reported() -> None:
    registry, consumer = CollectorRegistry(), Reassigned()
    backlog = Backlog(BacklogGauges(registry), consumer, group=GROUP, dlq_topics=["x.dlq"])
    await backlog.read()
    assert (
        value(registry, "vigie_consumer_lag_records", group=GROUP, topic=TOPIC, partition="1") == 9
    )
    assert value(registry, "vigie_dlq_records", topic="x.dlq") == 0

    consumer.assigned = consumer.assigned[:1]
    await backlog.read()
    assert (
        value(registry, "vigie_consumer_lag_records", group=GROUP, topic=TOPIC, partition="0") == 4
    )
    assert (
        value(registry, "vigie_consumer_lag_records", group=GROUP, topic=TOPIC, partition="1")
        is None
    )


async def test_a_broker_that_does_not_answer_leaves_the_last_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry, consumer, ticks = CollectorRegistry(), Reassigned(), Ticks()
    backlog = Backlog(
        BacklogGauges(registry), consumer, group=GROUP, dlq_topics=[], monotonic=ticks
    )
    await backlog.refresh()
    consumer.fail, ticks.now = True, ticks.now + 60
    await backlog.refresh()
    assert (
        value(registry, "vigie_consumer_lag_records", group=GROUP, topic=TOPIC, partition="0") == 4
    )
    assert "consumer lag of test-group not read: OSError" in caplog.text


def _edited(comment: Comment) -> Comment:
    return comment.model_copy(update={"kind": CommentKind.EDITED})


CREATED = f.NOW - timedelta(minutes=3)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (f.comment().model_copy(update={"created_at": CREATED}), CREATED),
        (f.comment(), f.NOW),  # no creation time from the platform: its arrival
        (_edited(f.comment().model_copy(update={"created_at": CREATED})), f.NOW),
        (f.sensitive(f.comment().model_copy(update={"created_at": CREATED})), CREATED),
        (f.action(), None),  # about a case, not a comment
    ],
    ids=["created", "no-created-at", "edited", "classified", "action"],
)
def test_the_platform_time_of_the_comment_an_event_is_about(
    event: object, expected: datetime | None
) -> None:
    assert comment_time(event) == expected


def test_an_age_is_never_negative() -> None:
    assert age_seconds(f.NOW, f.NOW + timedelta(seconds=90)) == 90.0
    assert age_seconds(f.NOW + timedelta(seconds=5), f.NOW) == 0.0


async def test_a_stage_observes_the_age_of_each_comment_once_its_output_is_acknowledged() -> None:
    bus, registry = MemoryBus(partitions=1), CollectorRegistry()
    ages = (30, 400)
    for minutes_ago in ages:
        item = f.comment(f"forum:c-{minutes_ago}").model_copy(
            update={"created_at": f.NOW - timedelta(seconds=minutes_ago)}
        )
        await bus.publish([to_message(TOPIC, item, key=item.partition_key)])

    async def process(batch: Sequence[Decoded[Comment]]) -> list[Message]:
        return []

    stage = Stage(
        name="test-stage",
        bus=bus,
        topics=[TOPIC],
        group=GROUP,
        decode=decoder(Comment),
        process=process,
        metrics=StageMetrics(registry),
        poll_timeout_s=0.02,
        event_time=comment_time,
        clock=lambda: f.NOW,
    )
    await stage.start()
    try:
        await eventually(lambda: bus.committed(GROUP, TOPIC, 0) == 2)
    finally:
        await stage.stop()
    labels = {"stage": "test-stage"}
    assert registry.get_sample_value("vigie_stage_event_age_seconds_count", labels) == 2
    assert registry.get_sample_value("vigie_stage_event_age_seconds_sum", labels) == sum(ages)
    within_a_minute = registry.get_sample_value(
        "vigie_stage_event_age_seconds_bucket", labels | {"le": "60.0"}
    )
    assert within_a_minute == 1


def test_build_info_names_each_service_of_a_process_once() -> None:
    registry = CollectorRegistry()
    for service in ("router", "notifier", "router"):
        build_info(registry, service)
    version = vigie_version()
    samples = [
        s.labels
        for family in registry.collect()
        if family.name == "vigie_build_info"
        for s in family.samples
    ]
    assert sorted(s["service"] for s in samples) == ["notifier", "router"]
    assert {s["version"] for s in samples} == {version} and version != "unknown"
