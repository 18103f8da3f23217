"""A remote scorer made safe to publish from: bounded in time, backed by the local verdict.

The local classifier always runs, alongside the remote call. Its verdict completes the
labels the scorer does not decide, keeps ``sensitive`` whatever the scorer says
(``combine``), and is published alone when the scorer fails or takes longer than the
timeout, so that a remote problem never loses a comment nor holds it past the timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from services.classifier.backends.base import (
    ALL_LABELS,
    Backend,
    BackendError,
    FailureReason,
    Item,
)
from services.classifier.backends.combine import combine, floor_applies
from services.classifier.metrics import ClassifierMetrics
from shared.events import Classification, Label

log = logging.getLogger(__name__)


def failure_reason(exc: Exception) -> FailureReason:
    if isinstance(exc, BackendError):
        return exc.reason
    if isinstance(exc, TimeoutError):
        return FailureReason.TIMEOUT
    return FailureReason.ERROR


class GuardedRemote:
    def __init__(
        self, remote: Backend, local: Backend, *, timeout_s: float, metrics: ClassifierMetrics
    ) -> None:
        self._remote = remote
        self._local = local
        self._timeout_s = timeout_s
        self._metrics = metrics

    @property
    def name(self) -> str:
        return self._remote.name

    @property
    def scored_labels(self) -> frozenset[Label]:
        return ALL_LABELS

    async def classify(self, items: Sequence[Item]) -> list[Classification]:
        if not items:
            return []
        local_task = asyncio.create_task(self._local.classify(items))
        started = time.perf_counter()
        try:
            remote = await asyncio.wait_for(self._remote.classify(items), self._timeout_s)
            if len(remote) != len(items):
                raise BackendError(FailureReason.MALFORMED, "wrong number of verdicts")
        except Exception as exc:
            self._fell_back(exc, len(items), time.perf_counter() - started)
            return await local_task
        self._metrics.backend_seconds.labels(self.name, "ok").observe(time.perf_counter() - started)
        local = await local_task
        scored = self._remote.scored_labels
        floored = sum(floor_applies(r, loc) for r, loc in zip(remote, local, strict=True))
        if floored:
            self._metrics.crisis_floor.labels(self.name).inc(floored)
        return [combine(r, loc, scored=scored) for r, loc in zip(remote, local, strict=True)]

    def _fell_back(self, exc: Exception, count: int, seconds: float) -> None:
        reason = failure_reason(exc)
        self._metrics.backend_seconds.labels(self.name, "failed").observe(seconds)
        self._metrics.fallbacks.labels(self.name, reason.value).inc(count)
        log.warning(
            "classifier backend %s failed (%s); %d comment(s) classified locally",
            self.name,
            reason.value,
            count,
            exc_info=reason is FailureReason.ERROR,
            extra={"fields": {"backend": self.name, "reason": reason.value}},
        )
