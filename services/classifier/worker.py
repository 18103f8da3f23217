"""comments.normalized -> classify -> store -> comments.classified."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from services.classifier import store
from services.classifier.metrics import ClassifierMetrics
from services.classifier.rules import classify
from services.classifier.settings import ClassifierSettings
from shared.bus import Message
from shared.codec import decoder, to_message
from shared.events import ClassifiedComment, Comment, derive_id
from shared.metrics import StageMetrics
from shared.runtime import Runtime
from shared.stage import Decoded, Stage
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


class ClassifierComponent:
    name = "classifier"

    def __init__(self, settings: ClassifierSettings) -> None:
        self._settings = settings
        self._stage: Stage[Comment] | None = None
        self._runtime: Runtime | None = None
        self._metrics: ClassifierMetrics | None = None

    def routes(self) -> APIRouter | None:
        return None

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._metrics = ClassifierMetrics(runtime.registry)
        await runtime.bus.ensure_topics([COMMENTS_CLASSIFIED])
        self._stage = Stage(
            name="classifier",
            bus=runtime.bus,
            topics=[COMMENTS_NORMALIZED],
            group=GROUP,
            decode=decoder(Comment),
            process=self._process,
            metrics=StageMetrics.for_registry(runtime.registry),
            batch_size=self._settings.classifier_batch_size,
        )
        await self._stage.start()

    async def stop(self) -> None:
        if self._stage is not None:
            await self._stage.stop()

    def ready(self) -> bool:
        return self._stage is not None and self._stage.running

    async def _process(self, batch: Sequence[Decoded[Comment]]) -> list[Message]:
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
