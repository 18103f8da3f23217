"""Ingest metrics. Labels carry platforms, kinds and reasons, never ids or text.

Sources (page, channel, forum, team) are the brand's own accounts: a bounded, configured
set, so the per-source health gauge labels them, capped at ``MAX_SOURCES`` per platform.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS, event_age, events_published

MAX_SOURCES = 200
OTHER = "other"

M = TypeVar("M", Counter, Gauge, Histogram)


class Children(Generic[M]):
    """A metric's labelled children, looked up once per label set.

    ``labels()`` validates, locks and hashes on every call; a webhook touches several
    children, so they are kept here. Label sets are bounded (platforms, outcomes, kinds,
    capped sources), and ingest never removes a child.
    """

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *labels: str) -> M:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # Ingest's events count with every stage's, by topic (vigie_events_published_total).
        self.published = events_published(registry)
        self.webhooks = Counter(
            "vigie_ingest_webhooks_total",
            "Webhook requests, by platform and outcome (accepted, duplicate, not_comment, "
            "handshake, or the rejection reason).",
            ["platform", "outcome"],
            registry=registry,
        )
        self.comments = Counter(
            "vigie_ingest_comments_total",
            "Comment events published, by the comment's platform and kind.",
            ["platform", "kind"],
            registry=registry,
        )
        self.duplicates = Counter(
            "vigie_ingest_duplicates_total",
            "Comment revisions dropped because they were already published.",
            ["platform"],
            registry=registry,
        )
        self.ignored = Counter(
            "vigie_ingest_ignored_items_total",
            "Valid items that are not comments (reactions, receipts, pings ...), by reason.",
            ["platform", "reason"],
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
            "When the last accepted webhook arrived, per platform.",
            ["platform"],
            registry=registry,
        )
        self.source_last_event = Gauge(
            "vigie_ingest_source_last_event_timestamp_seconds",
            "When the last comment of a source (page, channel, forum, team) was published.",
            ["platform", "source"],
            registry=registry,
        )
        self.dedup_unavailable = Counter(
            "vigie_ingest_dedup_unavailable_total",
            "Deliveries published without a de-duplication check (database unavailable).",
            ["platform"],
            registry=registry,
        )
        self.expected_interval = Gauge(
            "vigie_ingest_source_expected_interval_seconds",
            "How long a source of this platform may stay silent (VIGIE_SOURCE_SILENCE_AFTER).",
            ["platform"],
            registry=registry,
        )
        self.event_age = event_age(registry)
        self._sources: dict[str, set[str]] = {}
        self.webhook = Children(self.webhooks)
        self.published_to = Children(self.published)
        self.comment = Children(self.comments)
        self.ack = Children(self.ack_seconds)
        self.last_event_of = Children(self.last_event)
        self.source_last_event_of = Children(self.source_last_event)
        self.expected_interval_of = Children(self.expected_interval)
        self.ingest_age = self.event_age.labels("ingest")

    def source_label(self, platform: str, source: str) -> str:
        known = self._sources.setdefault(platform, set())
        if source in known:
            return source
        if len(known) >= MAX_SOURCES:
            return OTHER
        known.add(source)
        return source
