"""Prometheus helpers. Registries are injected, never global, so that the embedded mode
can host every service in one registry and tests can read their own."""

from __future__ import annotations

import weakref

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StageMetrics:
    """What every Kafka stage reports: records by outcome, batch latency, DLQ traffic."""

    _by_registry: weakref.WeakKeyDictionary[CollectorRegistry, StageMetrics] = (
        weakref.WeakKeyDictionary()
    )

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
        self.published = Counter(
            "vigie_events_published_total",
            "Events acknowledged by the broker, by topic.",
            ["topic"],
            registry=registry,
        )

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> StageMetrics:
        """One set per registry: several stages share it in the embedded mode."""
        existing = cls._by_registry.get(registry)
        if existing is None:
            existing = cls(registry)
            cls._by_registry[registry] = existing
        return existing
