"""comments.normalized -> classify (batch) -> store -> comments.classified.

The batch goes to the primary backend in one call; a remote backend is guarded (timeout,
fallback to the local classifier, crisis floor). A shadow backend, when configured, gets
the same batch in the background once the verdicts are known, and never changes them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

from services.classifier import store
from services.classifier.backends.base import Backend
from services.classifier.backends.factory import primary_backend, shadow_backend
from services.classifier.backends.local import LocalBackend, default_local
from services.classifier.backends.shadow import ShadowRunner, ShadowVerdict
from services.classifier.metrics import ClassifierMetrics
from services.classifier.settings import ClassifierSettings
from shared.bus import Message
from shared.codec import to_message
from shared.events import Classification, ClassifiedComment, Comment, derive_id
from shared.runtime import Runtime
from shared.stage import Decoded
from shared.stage_component import StageComponent
from shared.topics import (
    CLASSIFIED_PRIORITY,
    COMMENTS_CLASSIFIED,
    COMMENTS_NORMALIZED,
    COMMENTS_PRIORITY,
)

log = logging.getLogger(__name__)

GROUP = "vigie-classifier"
PRIORITY_GROUP = "vigie-classifier-priority"
SHADOW_DRAIN_S = 10.0


def classified(comment: Comment, verdict: Classification) -> ClassifiedComment:
    """The event to publish; its id is stable for one revision and one model version.

    Built without validation: every field comes from a validated ``Comment`` or
    ``Classification``.
    """
    return ClassifiedComment.model_construct(
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

    def __init__(self, settings: ClassifierSettings, *, local: LocalBackend | None = None) -> None:
        super().__init__(batch_size=settings.classifier_batch_size)
        self._settings = settings
        self._local = local
        self._runtime: Runtime | None = None
        self._metrics: ClassifierMetrics | None = None
        self._client: httpx.AsyncClient | None = None
        self._primary: Backend | None = None
        self._shadow: ShadowRunner | None = None

    async def prepare(self, runtime: Runtime) -> None:
        settings = self._settings
        self._runtime = runtime
        self._metrics = metrics = ClassifierMetrics(runtime.registry)
        local = self._local or default_local(deep=self._settings.classifier_deep)
        if settings.uses_remote:
            self._client = httpx.AsyncClient(
                timeout=settings.classifier_timeout_s, follow_redirects=False
            )
        self._primary = primary_backend(settings, local=local, client=self._client, metrics=metrics)
        shadow = shadow_backend(settings, local=local, client=self._client)
        if shadow is not None:
            self._shadow = ShadowRunner(
                shadow,
                timeout_s=settings.classifier_timeout_s,
                max_pending=settings.classifier_shadow_max_pending,
                metrics=metrics,
                record=self._record_shadow,
            )
        log.info(
            "classifier backend %s (local %s), shadow %s",
            self._primary.name,
            local.version,
            shadow.name if shadow else "none",
        )

    async def close(self) -> None:
        if self._shadow is not None:
            await self._shadow.drain(SHADOW_DRAIN_S)
        if self._client is not None:
            await self._client.aclose()

    async def drain_shadow(self, timeout_s: float = SHADOW_DRAIN_S) -> None:
        """Wait for the shadow runs in flight (for a clean stop, and for tests)."""
        if self._shadow is not None:
            await self._shadow.drain(timeout_s)

    async def _record_shadow(self, rows: list[ShadowVerdict]) -> None:
        assert self._runtime is not None
        await store.record_shadow(self._runtime.engine, rows, self._runtime.clock())

    async def process(self, batch: Sequence[Decoded[Comment]]) -> list[Message]:
        assert self._runtime is not None and self._metrics is not None
        assert self._primary is not None
        comments = [item.event for item in batch]
        verdicts = await self._primary.classify([(c.text, c.lang) for c in comments])
        items = [classified(c, v) for c, v in zip(comments, verdicts, strict=True)]
        await store.record(self._runtime.engine, items, self._runtime.clock())
        self._count(comments, verdicts)
        if self._shadow is not None:
            self._shadow.submit(comments, verdicts)
        output = self.outputs[0]
        return [to_message(output, item, key=item.comment.partition_key) for item in items]

    def _count(self, comments: Sequence[Comment], verdicts: Sequence[Classification]) -> None:
        assert self._metrics is not None
        count = self._metrics.count_verdict
        for comment, verdict in zip(comments, verdicts, strict=True):
            count(verdict, comment.platform)


class PriorityClassifierComponent(ClassifierComponent):
    """The priority lane: comments screened in at ingest (``screen``), read from a topic
    and a consumer group of their own, their verdicts published to a topic of their own.

    The backends are the routine lane's component's (the model is loaded once): it must be
    started first, and it closes them.
    """

    name = "classifier-priority"
    group = PRIORITY_GROUP
    source = COMMENTS_PRIORITY
    outputs = (CLASSIFIED_PRIORITY,)

    def __init__(self, routine: ClassifierComponent) -> None:
        super().__init__(routine._settings, local=routine._local)
        self._routine = routine

    async def prepare(self, runtime: Runtime) -> None:
        routine = self._routine
        if routine._primary is None:
            raise RuntimeError("the routine classifier component must start first")
        self._runtime = runtime
        self._metrics = routine._metrics
        self._primary = routine._primary
        self._shadow = routine._shadow

    async def close(self) -> None:
        """The shared backends are the routine lane's to close."""
