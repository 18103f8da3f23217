"""Classifier metrics: verdicts, backends, fallbacks and shadow agreement (no ids, no text)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.events import Classification
from shared.metrics import LATENCY_BUCKETS


class ClassifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.labels = Counter(
            "vigie_classifier_labels_total",
            "Labels given, by label, language, severity and the comment's platform.",
            ["label", "lang", "severity", "platform"],
            registry=registry,
        )
        self.categories = Counter(
            "vigie_classifier_categories_total",
            "Finer categories given, by category.",
            ["category"],
            registry=registry,
        )
        self.backend_seconds = Histogram(
            "vigie_classifier_backend_seconds",
            "Time a backend took on one batch, by backend and outcome (ok, failed).",
            ["backend", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.fallbacks = Counter(
            "vigie_classifier_fallbacks_total",
            "Comments classified locally because the remote scorer failed, by backend and reason.",
            ["backend", "reason"],
            registry=registry,
        )
        self.crisis_floor = Counter(
            "vigie_classifier_crisis_floor_total",
            "Comments kept sensitive on the local verdict that the remote scorer did not flag.",
            ["backend"],
            registry=registry,
        )
        self.shadow_labels = Counter(
            "vigie_classifier_shadow_labels_total",
            "Shadow comparisons by label and outcome (both, neither, primary_only, shadow_only).",
            ["backend", "label", "outcome"],
            registry=registry,
        )
        # ``Counter.labels`` takes a lock and builds a key on each call: the children are kept
        # here, one per label set (the sets the counters hold anyway: no new cardinality).
        self._label_children: dict[tuple[str, str, str, str], Counter] = {}
        self._category_children: dict[str, Counter] = {}
        self.shadow_failures = Counter(
            "vigie_classifier_shadow_failures_total",
            "Shadow batches left uncompared, by backend and reason (busy, store, remote failures).",
            ["backend", "reason"],
            registry=registry,
        )

    def count_verdict(self, verdict: Classification, platform: str) -> None:
        """One comment's labels and categories."""
        severity = verdict.severity.value
        for label in verdict.labels:
            key = (label.value, verdict.lang, severity, platform)
            child = self._label_children.get(key)
            if child is None:
                child = self._label_children[key] = self.labels.labels(*key)
            child.inc()
        for category in verdict.categories:
            child = self._category_children.get(category)
            if child is None:
                child = self._category_children[category] = self.categories.labels(category)
            child.inc()
