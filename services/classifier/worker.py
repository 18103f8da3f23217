"""comments.normalized -> classify -> store -> comments.classified."""

from __future__ import annotations

from collections.abc import Sequence

from services.classifier import store
from services.classifier.metrics import ClassifierMetrics
from services.classifier.rules import classify
from services.classifier.settings import ClassifierSettings
from shared.bus import Message
from shared.codec import to_message
from shared.events import ClassifiedComment, Comment, derive_id
from shared.runtime import Runtime
from shared.stage import Decoded
from shared.stage_component import StageComponent
from shared.topics import COMMENTS_CLASSIFIED, COMMENTS_NORMALIZED

GROUP = "vigie-classifier"


def classified(comment: Comment) -> ClassifiedComment:
    verdict = classify(comment.text, lang_hint=comment.lang)
    return ClassifiedComment(
        event_id=derive_id("classified", comment.ref.key, verdict.model_version),
        trace_id=comment.trace_id,
        occurred_at=comment.received_at,
        comment=comment,
        classification=verdict,
    )


class ClassifierComponent(StageComponent[Comment]):
    name = "classifier"
    group = GROUP
    source = COMMENTS_NORMALIZED
    outputs = (COMMENTS_CLASSIFIED,)
    model = Comment

    def __init__(self, settings: ClassifierSettings) -> None:
        super().__init__(batch_size=settings.classifier_batch_size)
        self._runtime: Runtime | None = None
        self._metrics: ClassifierMetrics | None = None

    async def prepare(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._metrics = ClassifierMetrics(runtime.registry)

    async def process(self, batch: Sequence[Decoded[Comment]]) -> list[Message]:
        assert self._runtime is not None and self._metrics is not None
        items = [classified(item.event) for item in batch]
        await store.record(self._runtime.engine, items, self._runtime.clock())
        for item in items:
            verdict = item.classification
            for label in verdict.labels:
                self._metrics.labels.labels(label.value, verdict.lang, verdict.severity.value).inc()
            for category in verdict.categories:
                self._metrics.categories.labels(category).inc()
        return [
            to_message(COMMENTS_CLASSIFIED, item, key=item.comment.partition_key) for item in items
        ]
