"""Prometheus helpers. Registries are injected, never global, so that the embedded mode
can host every service in one registry and tests can read their own.

A metric that several components of one process report (the stage metrics, the backlog
gauges, the build info) is created once per registry: in the embedded mode the four
services share one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from importlib import metadata
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.bus import Consumer, PartitionOffsets
from shared.events import ClassifiedComment, Comment, CommentKind

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# From a comment's platform time to a stage's output: seconds when all is well, hours when a
# platform delivers late or a stage is behind.
AGE_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 21600.0)

M = TypeVar("M")
_per_registry: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


def once_per_registry(registry: CollectorRegistry, name: str, build: Callable[[], M]) -> M:
    """The metric object ``name`` of ``registry``, built on first use."""
    made = _per_registry.setdefault(registry, {})
    if name not in made:
        made[name] = build()
    found: M = made[name]
    return found


class StageMetrics:
    """What every Kafka stage reports: records by outcome, batch latency, DLQ traffic,
    and how old the comments are when the stage is done with them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "vigie_stage_records_total",
            "Records handled by a stage, by outcome (ok, dlq, retry).",
            ["stage", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "vigie_stage_seconds",
            "Time to process one batch, from poll to commit.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.published = events_published(registry)
        self.event_age = event_age(registry)

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> StageMetrics:
        """One set per registry: several stages share it in the embedded mode."""
        return once_per_registry(registry, "stage", lambda: cls(registry))


def events_published(registry: CollectorRegistry) -> Counter:
    """vigie_events_published_total: the stages' output, and what ingest and the router's
    outbox publish outside a stage."""
    return once_per_registry(
        registry,
        "events_published",
        lambda: Counter(
            "vigie_events_published_total",
            "Events acknowledged by the broker, by topic.",
            ["topic"],
            registry=registry,
        ),
    )


def event_age(registry: CollectorRegistry) -> Histogram:
    """vigie_stage_event_age_seconds: ingest observes it too, without being a Kafka stage."""
    return once_per_registry(
        registry,
        "event_age",
        lambda: Histogram(
            "vigie_stage_event_age_seconds",
            "From the comment's platform event time to the end of this stage's processing.",
            ["stage"],
            buckets=AGE_BUCKETS,
            registry=registry,
        ),
    )


def comment_time(event: object) -> datetime | None:
    """The platform time of the comment an event is about, if it is about one."""
    comment = event.comment if isinstance(event, ClassifiedComment) else event
    if not isinstance(comment, Comment):
        return None
    return platform_time(comment.kind.value, comment.created_at, comment.received_at)


def platform_time(kind: str, created_at: datetime | None, received_at: datetime) -> datetime:
    """When the platform says it happened: a new comment's creation time; an edit or a
    delete carries no time of its own, so its arrival stands for it."""
    if kind == CommentKind.CREATED.value and created_at is not None:
        return created_at
    return received_at


def age_seconds(since: datetime, now: datetime) -> float:
    """Seconds from ``since`` to ``now``, never negative (platform clocks run ahead too)."""
    return max(0.0, (now - since).total_seconds())


def build_info(registry: CollectorRegistry, service: str) -> None:
    """vigie_build_info{service,version} = 1: which service and version a target runs."""
    gauge = once_per_registry(
        registry,
        "build_info",
        lambda: Gauge(
            "vigie_build_info",
            "Always 1: the service this process runs and Vigie's version.",
            ["service", "version"],
            registry=registry,
        ),
    )
    gauge.labels(service, vigie_version()).set(1)


def vigie_version() -> str:
    try:
        return metadata.version("vigie")
    except metadata.PackageNotFoundError:
        return "unknown"


# Consumer lag and DLQ depth --------------------------------------------------------------


def lag(offsets: PartitionOffsets) -> int:
    """Records of a partition its group has still to process. A group that never committed
    (or whose position fell off retention) starts from the partition's first record."""
    position = offsets.beginning if offsets.committed is None else offsets.committed
    return max(0, offsets.end - max(position, offsets.beginning))


def held(offsets: Iterable[PartitionOffsets]) -> dict[str, int]:
    """Records each topic holds (retention aside, what was written to it), per topic."""
    totals: dict[str, int] = {}
    for o in offsets:
        totals[o.topic] = totals.get(o.topic, 0) + max(0, o.end - o.beginning)
    return totals


class BacklogGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = Gauge(
            "vigie_consumer_lag_records",
            "Records behind the partition's end, per consumer group, for the partitions "
            "this process consumes.",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.dlq = Gauge(
            "vigie_dlq_records",
            "Records held in a dead-letter topic (end - beginning offsets).",
            ["topic"],
            registry=registry,
        )

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> BacklogGauges:
        return once_per_registry(registry, "backlog", lambda: cls(registry))


class ScrapedRead:
    """Values read from the broker or the database when /metrics is scraped, at most once
    every ``max_age_s`` (never per record). A source that does not answer within
    ``timeout_s`` leaves the last values and a warning naming ``what``."""

    def __init__(
        self, what: str, *, max_age_s: float, timeout_s: float, monotonic: Callable[[], float]
    ) -> None:
        self._what = what
        self._max_age_s = max_age_s
        self._timeout_s = timeout_s
        self._monotonic = monotonic
        self._read_at: float | None = None

    async def refresh(self) -> None:
        now = self._monotonic()
        if self._read_at is not None and now - self._read_at < self._max_age_s:
            return
        self._read_at = now
        try:
            await asyncio.wait_for(self.read(), self._timeout_s)
        except Exception as exc:  # a scrape must answer even when the source does not
            log.warning("%s not read: %s", self._what, type(exc).__name__)

    async def read(self) -> None:
        raise NotImplementedError


class Backlog(ScrapedRead):
    """One stage's consumer lag and DLQ depth, read from the broker when scraped, at most
    once every ``max_age_s`` (never per record). A broker that does not answer within
    ``timeout_s`` leaves the last values and a warning."""

    def __init__(
        self,
        gauges: BacklogGauges,
        consumer: Consumer,
        *,
        group: str,
        dlq_topics: Sequence[str],
        max_age_s: float = 5.0,
        timeout_s: float = 3.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            f"consumer lag of {group}",
            max_age_s=max_age_s,
            timeout_s=timeout_s,
            monotonic=monotonic,
        )
        self._gauges = gauges
        self._consumer = consumer
        self._group = group
        self._dlq_topics = tuple(dlq_topics)
        self._partitions: set[tuple[str, int]] = set()

    async def read(self) -> None:
        """Read the broker now and set the gauges."""
        assigned = await self._consumer.offsets()
        current = {(o.topic, o.partition) for o in assigned}
        for topic, partition in self._partitions - current:  # moved to another replica
            self._gauges.lag.remove(self._group, topic, str(partition))
        self._partitions = current
        for o in assigned:
            self._gauges.lag.labels(self._group, o.topic, str(o.partition)).set(lag(o))
        depth = held(await self._consumer.topic_offsets(self._dlq_topics))
        for topic in self._dlq_topics:
            self._gauges.dlq.labels(topic).set(depth.get(topic, 0))
