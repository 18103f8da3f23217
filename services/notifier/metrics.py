"""Notifier metrics: deliveries by channel and outcome, attempts, latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.metrics import LATENCY_BUCKETS, once_per_registry


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "vigie_notifier_deliveries_total",
            "Deliveries by channel and outcome (delivered, failed, duplicate).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.attempts = Counter(
            "vigie_notifier_attempts_total",
            "Send attempts by channel and result (ok, retryable, permanent).",
            ["channel", "result"],
            registry=registry,
        )
        self.send_seconds = Histogram(
            "vigie_notifier_send_seconds",
            "Time of one send attempt.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> NotifierMetrics:
        """One set per registry: both notifier lanes of a process count into it."""
        return once_per_registry(registry, "notifier", lambda: cls(registry))
