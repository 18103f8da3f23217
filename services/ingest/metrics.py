"""Ingest metrics. Labels carry platforms and reasons, never ids or text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.webhooks = Counter(
            "vigie_ingest_webhooks_total",
            "Webhooks received, by platform and outcome (accepted or the rejection reason).",
            ["platform", "outcome"],
            registry=registry,
        )
        self.ack_seconds = Histogram(
            "vigie_ingest_ack_seconds",
            "From request received to the broker's acknowledgement of its events.",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.last_event = Gauge(
            "vigie_ingest_last_event_timestamp_seconds",
            "When the last accepted event arrived, per platform.",
            ["platform"],
            registry=registry,
        )
