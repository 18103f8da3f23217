"""The classifier counts its verdicts by label, language, severity and the comment's
platform, reports how old the comments are once classified, and how far its consumer lags."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from services.classifier.backends.local import lexicon_backend
from services.classifier.settings import ClassifierSettings
from services.classifier.worker import GROUP, ClassifierComponent
from shared.bus.memory import MemoryBus
from shared.codec import to_message
from shared.runtime import Runtime
from shared.topics import COMMENTS_CLASSIFIED, COMMENTS_NORMALIZED, dlq
from tests.unit import factories as f
from tests.unit.factories import eventually


async def test_labels_are_counted_per_platform_and_the_comment_age_observed(
    engine: AsyncEngine,
) -> None:
    bus, registry = MemoryBus(), CollectorRegistry()
    runtime = Runtime(bus=bus, engine=engine, registry=registry, clock=lambda: f.NOW)
    posted = f.NOW - timedelta(seconds=40)
    incoming = [
        f.comment("forum:c-1", text="je vais en finir", lang="fr", platform="generic"),
        f.comment("yt:c-2", text="je vais en finir", lang="fr", platform="youtube"),
        f.comment("yt:c-3", text="je vais en finir ce soir", lang="fr", platform="youtube"),
    ]
    incoming = [c.model_copy(update={"created_at": posted}) for c in incoming]
    await bus.publish([to_message(COMMENTS_NORMALIZED, c, key=c.partition_key) for c in incoming])
    component = ClassifierComponent(ClassifierSettings(), local=lexicon_backend())
    await component.start(runtime)
    try:
        await eventually(lambda: len(bus.records(COMMENTS_CLASSIFIED)) == len(incoming))
        await eventually(
            lambda: sum(bus.committed(GROUP, COMMENTS_NORMALIZED, p) for p in range(3)) == 3
        )
        await runtime.refresh_metrics()
    finally:
        await component.stop()

    def labelled(platform: str) -> float | None:
        return registry.get_sample_value(
            "vigie_classifier_labels_total",
            {"label": "sensitive", "lang": "fr", "severity": "critical", "platform": platform},
        )

    assert (labelled("generic"), labelled("youtube")) == (1, 2)
    categories = {"category": "suicide"}
    assert registry.get_sample_value("vigie_classifier_categories_total", categories) == 3
    stage = {"stage": "classifier"}
    assert registry.get_sample_value("vigie_stage_event_age_seconds_count", stage) == 3
    assert registry.get_sample_value("vigie_stage_event_age_seconds_sum", stage) == 120
    lag = [
        registry.get_sample_value(
            "vigie_consumer_lag_records",
            {"group": GROUP, "topic": COMMENTS_NORMALIZED, "partition": str(p)},
        )
        for p in range(3)
    ]
    assert lag == [0, 0, 0]
    assert registry.get_sample_value("vigie_dlq_records", {"topic": dlq(COMMENTS_NORMALIZED)}) == 0
