"""Classifier metrics: verdicts by label, category and language (no ids, no text)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class ClassifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.labels = Counter(
            "vigie_classifier_labels_total",
            "Labels given, by label, language and severity.",
            ["label", "lang", "severity"],
            registry=registry,
        )
        self.categories = Counter(
            "vigie_classifier_categories_total",
            "Finer categories given, by category.",
            ["category"],
            registry=registry,
        )
