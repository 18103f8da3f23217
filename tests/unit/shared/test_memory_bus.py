"""The in-memory bus keeps the Kafka semantics the stages rely on."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from shared.bus import Message, Record
from shared.bus.memory import MemoryBus
from shared.bus.protocol import commit_positions

TOPIC = "vigie.test.v1"


def msg(value: str, key: str | None = None, headers: tuple[tuple[str, bytes], ...] = ()) -> Message:
    return Message(
        topic=TOPIC, value=value.encode(), key=key.encode() if key else None, headers=headers
    )


async def drain(bus: MemoryBus, group: str, *, commit: bool) -> list[Record]:
    consumer = await bus.consumer([TOPIC], group=group)
    got: list[Record] = []
    try:
        while batch := await consumer.poll(max_records=2, timeout_s=0.01):
            got.extend(batch)
            if commit:
                await consumer.commit(batch)
    finally:
        await consumer.close()
    return got


async def test_records_of_one_key_keep_their_order_and_partition() -> None:
    bus = MemoryBus(partitions=3)
    keys = ["thread-a", "thread-b", "thread-c", "thread-d"]
    await bus.publish([msg(f"{k}/{i}", key=k) for i in range(10) for k in keys])

    got = await drain(bus, "g", commit=True)

    by_key: dict[bytes | None, list[Record]] = defaultdict(list)
    for record in got:
        by_key[record.key].append(record)
    assert set(by_key) == {k.encode() for k in keys}
    for key, records in by_key.items():
        assert key is not None
        assert [r.value.decode() for r in records] == [f"{key.decode()}/{i}" for i in range(10)]
        assert len({r.partition for r in records}) == 1
        offsets = [r.offset for r in records]
        assert offsets == sorted(offsets)


async def test_offsets_are_dense_per_partition() -> None:
    bus = MemoryBus(partitions=2)
    await bus.publish([msg(str(i), key=f"k{i}") for i in range(20)])

    for partition in range(2):
        records = [r for r in bus.records(TOPIC) if r.partition == partition]
        assert [r.offset for r in records] == list(range(len(records)))


async def test_a_new_consumer_of_the_group_gets_what_was_polled_but_not_committed() -> None:
    bus = MemoryBus(partitions=1)
    await bus.publish([msg(v, key="k") for v in ("a", "b", "c")])
    first = await bus.consumer([TOPIC], group="g")
    polled = await first.poll(max_records=10, timeout_s=0.1)
    assert [r.value for r in polled] == [b"a", b"b", b"c"]
    await first.commit(polled[:1])
    await first.close()

    second = await bus.consumer([TOPIC], group="g")
    again = await second.poll(max_records=10, timeout_s=0.1)

    assert [(r.offset, r.value) for r in again] == [(1, b"b"), (2, b"c")]
    assert bus.committed("g", TOPIC, 0) == 1


async def test_committed_records_are_not_redelivered() -> None:
    bus = MemoryBus(partitions=3)
    await bus.publish([msg(str(i), key=str(i)) for i in range(9)])
    assert len(await drain(bus, "g", commit=True)) == 9

    assert await drain(bus, "g", commit=False) == []
    assert sum(bus.committed("g", TOPIC, p) for p in range(3)) == 9


async def test_a_commit_never_moves_the_position_back() -> None:
    bus = MemoryBus(partitions=1)
    await bus.publish([msg(v, key="k") for v in ("a", "b", "c")])
    consumer = await bus.consumer([TOPIC], group="g")
    records = await consumer.poll(max_records=10, timeout_s=0.1)

    await consumer.commit(records)
    await consumer.commit(records[:1])

    assert bus.committed("g", TOPIC, 0) == 3


async def test_each_group_gets_every_record() -> None:
    bus = MemoryBus(partitions=3)
    await bus.publish([msg(str(i), key=str(i)) for i in range(12)])

    one = await drain(bus, "classifier", commit=True)
    two = await drain(bus, "audit", commit=True)

    assert sorted(r.value for r in one) == sorted(str(i).encode() for i in range(12))
    assert sorted(r.value for r in two) == sorted(r.value for r in one)


async def test_headers_and_key_are_preserved() -> None:
    bus = MemoryBus()
    headers = (("trace_id", b"t-1"), ("event_type", b"Comment"), ("trace_id", b"dup"))
    await bus.publish([msg("v", key="k", headers=headers)])

    (record,) = await drain(bus, "g", commit=False)

    assert record.headers == headers
    assert record.header("trace_id") == b"t-1"
    assert record.header("absent") is None
    assert record.key == b"k"
    assert record.topic == TOPIC


async def test_poll_times_out_with_nothing_when_empty() -> None:
    bus = MemoryBus()
    consumer = await bus.consumer([TOPIC], group="g")
    loop = asyncio.get_running_loop()

    started = loop.time()
    got = await consumer.poll(max_records=10, timeout_s=0.1)
    elapsed = loop.time() - started

    assert got == []
    assert 0.09 <= elapsed < 1.0


async def test_poll_wakes_up_when_a_record_arrives() -> None:
    bus = MemoryBus()
    consumer = await bus.consumer([TOPIC], group="g")
    loop = asyncio.get_running_loop()

    async def publish_soon() -> None:
        await asyncio.sleep(0.05)
        await bus.publish([msg("late", key="k")])

    started = loop.time()
    publisher = asyncio.create_task(publish_soon())
    got = await consumer.poll(max_records=10, timeout_s=5.0)
    await publisher

    assert [r.value for r in got] == [b"late"]
    assert loop.time() - started < 1.0


async def test_poll_returns_at_most_max_records() -> None:
    bus = MemoryBus(partitions=2)
    await bus.publish([msg(str(i), key=str(i)) for i in range(10)])
    consumer = await bus.consumer([TOPIC], group="g")

    sizes = []
    while batch := await consumer.poll(max_records=3, timeout_s=0.01):
        sizes.append(len(batch))

    assert all(size <= 3 for size in sizes)
    assert sum(sizes) == 10


async def test_a_closed_consumer_returns_nothing() -> None:
    bus = MemoryBus()
    await bus.publish([msg("v", key="k")])
    consumer = await bus.consumer([TOPIC], group="g")
    await consumer.close()

    assert await consumer.poll(max_records=10, timeout_s=0.01) == []


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], {}),
        ([("t", 0, 4)], {("t", 0): 5}),
        ([("t", 0, 4), ("t", 0, 2), ("t", 1, 0)], {("t", 0): 5, ("t", 1): 1}),
        ([("t", 0, 1), ("u", 0, 7)], {("t", 0): 2, ("u", 0): 8}),
    ],
)
def test_commit_positions_is_the_next_offset_per_partition(
    records: list[tuple[str, int, int]], expected: dict[tuple[str, int], int]
) -> None:
    built = [Record(topic=t, partition=p, offset=o, key=None, value=b"") for t, p, o in records]

    assert commit_positions(built) == expected
