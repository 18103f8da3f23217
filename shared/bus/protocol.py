"""What every stage needs from a message bus, and nothing more.

Delivery is at-least-once: ``publish`` returns only once the broker has acknowledged every
message, and a consumer's position is committed explicitly, after the stage's own output was
acknowledged. A record polled but not committed is delivered again to the next consumer of
the group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

Headers = tuple[tuple[str, bytes], ...]


class BusUnavailable(Exception):
    """The broker did not acknowledge in time; the caller must not report success."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message to publish; ``event_id`` names the event it carries, if any.

    A message whose event is still queued from an earlier, timed-out publish is not queued a
    second time: the new publish waits for the first one instead.
    """

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers = ()
    event_id: str | None = None


Acked = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = ()
    timestamp_ms: int = field(default=0, compare=False)

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """Where one partition stands: its first and next offsets, and a group's position."""

    topic: str
    partition: int
    beginning: int
    end: int
    committed: int | None = None  # None: the group never committed on this partition


class Consumer(Protocol):
    async def poll(self, *, max_records: int, timeout_s: float) -> list[Record]:
        """Up to ``max_records`` records, waiting at most ``timeout_s`` for the first."""
        ...

    async def commit(self, records: Sequence[Record]) -> None:
        """Mark every record up to these (per partition) as processed."""
        ...

    async def offsets(self) -> list[PartitionOffsets]:
        """The partitions assigned to this consumer, with its group's committed positions."""
        ...

    async def topic_offsets(self, topics: Sequence[str]) -> list[PartitionOffsets]:
        """Every partition of ``topics`` that exists (for the records a topic holds)."""
        ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ensure_topics(self, topics: Sequence[str]) -> None: ...

    async def publish(self, messages: Sequence[Message], *, on_acked: Acked | None = None) -> None:
        """Return once every message is acknowledged; raise ``BusUnavailable`` otherwise.

        ``on_acked`` is called once every message is acknowledged, even when that happens
        after ``publish`` gave up waiting (the producer keeps retrying queued messages).
        """
        ...

    async def consumer(self, topics: Sequence[str], *, group: str) -> Consumer: ...

    async def ping(self) -> bool:
        """True when the broker is reachable (readiness)."""
        ...


def commit_positions(records: Sequence[Record]) -> dict[tuple[str, int], int]:
    """The next offset to read per (topic, partition) once ``records`` are processed."""
    positions: dict[tuple[str, int], int] = {}
    for record in records:
        tp = (record.topic, record.partition)
        positions[tp] = max(positions.get(tp, 0), record.offset + 1)
    return positions
