"""An in-process bus for the embedded mode and for unit tests of service logic.

It keeps Kafka's semantics that the stages rely on: partitions chosen by key, per-partition
order, committed positions per consumer group, and redelivery of what was polled but not
committed when a new consumer of the group starts. One consumer per group at a time.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Sequence

from shared.bus.protocol import Acked, Message, PartitionOffsets, Record, commit_positions


class MemoryBus:
    def __init__(self, *, partitions: int = 3) -> None:
        self._partitions = partitions
        self._logs: dict[str, list[list[Record]]] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._changed = asyncio.Event()
        self._rr = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        for topic in topics:
            self._log(topic)

    def _log(self, topic: str) -> list[list[Record]]:
        if topic not in self._logs:
            self._logs[topic] = [[] for _ in range(self._partitions)]
        return self._logs[topic]

    def _partition_for(self, key: bytes | None) -> int:
        if key is None:
            self._rr += 1
            return self._rr % self._partitions
        return zlib.crc32(key) % self._partitions

    async def publish(self, messages: Sequence[Message], *, on_acked: Acked | None = None) -> None:
        now_ms = int(time.time() * 1000)
        for message in messages:
            log = self._log(message.topic)
            partition = self._partition_for(message.key)
            records = log[partition]
            records.append(
                Record(
                    topic=message.topic,
                    partition=partition,
                    offset=len(records),
                    key=message.key,
                    value=message.value,
                    headers=message.headers,
                    timestamp_ms=now_ms,
                )
            )
        self._changed.set()
        if on_acked is not None:
            on_acked()

    async def consumer(self, topics: Sequence[str], *, group: str) -> MemoryConsumer:
        await self.ensure_topics(topics)
        return MemoryConsumer(self, tuple(topics), group)

    # Consumer support -----------------------------------------------------------------

    def committed(self, group: str, topic: str, partition: int) -> int:
        return self._committed.get((group, topic, partition), 0)

    def _commit(self, group: str, positions: dict[tuple[str, int], int]) -> None:
        for (topic, partition), offset in positions.items():
            key = (group, topic, partition)
            self._committed[key] = max(self._committed.get(key, 0), offset)

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic, all partitions (for tests and inspection)."""
        return [r for partition in self._log(topic) for r in partition]


class MemoryConsumer:
    def __init__(self, bus: MemoryBus, topics: tuple[str, ...], group: str) -> None:
        self._bus = bus
        self._topics = topics
        self._group = group
        self._positions = {
            (t, p): bus.committed(group, t, p) for t in topics for p in range(bus._partitions)
        }
        self._closed = False

    def _take(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        for (topic, partition), position in self._positions.items():
            log = self._bus._log(topic)[partition]
            batch = log[position : position + max_records - len(out)]
            if batch:
                out.extend(batch)
                self._positions[(topic, partition)] = position + len(batch)
            if len(out) >= max_records:
                break
        return out

    async def poll(self, *, max_records: int, timeout_s: float) -> list[Record]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self._closed:
            records = self._take(max_records)
            if records:
                return records
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return []
            self._bus._changed.clear()
            try:
                await asyncio.wait_for(self._bus._changed.wait(), remaining)
            except TimeoutError:
                return []
        return []

    async def commit(self, records: Sequence[Record]) -> None:
        self._bus._commit(self._group, commit_positions(records))

    async def offsets(self) -> list[PartitionOffsets]:
        bus = self._bus
        return [
            PartitionOffsets(t, p, 0, len(bus._log(t)[p]), bus._committed.get((self._group, t, p)))
            for t, p in self._positions
        ]

    async def topic_offsets(self, topics: Sequence[str]) -> list[PartitionOffsets]:
        logs = self._bus._logs
        return [
            PartitionOffsets(t, p, 0, len(records))
            for t in topics
            if t in logs
            for p, records in enumerate(logs[t])
        ]

    async def close(self) -> None:
        self._closed = True
