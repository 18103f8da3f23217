"""Shadow mode: a second backend classifies the same batches, for comparison only.

Its verdicts are compared label by label with the published ones (a metric) and stored
(rows for reports), in the background: a shadow never delays, changes or fails what the
primary backend publishes. When shadow runs pile up (a slow scorer), new batches are
skipped and counted rather than queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.classifier.backends.base import Backend
from services.classifier.backends.guard import failure_reason
from services.classifier.metrics import ClassifierMetrics
from shared.events import Classification, Comment, Label

log = logging.getLogger(__name__)


class Agreement(StrEnum):
    BOTH = "both"
    NEITHER = "neither"
    PRIMARY_ONLY = "primary_only"
    SHADOW_ONLY = "shadow_only"


def compare(
    primary: Classification, shadow: Classification, *, labels: frozenset[Label]
) -> dict[Label, Agreement]:
    """Per label the shadow decides: did both backends give it, neither, or only one?"""
    out: dict[Label, Agreement] = {}
    for label in Label:
        if label not in labels:
            continue
        mine, theirs = label in primary.labels, label in shadow.labels
        out[label] = (
            (Agreement.BOTH if theirs else Agreement.PRIMARY_ONLY)
            if mine
            else (Agreement.SHADOW_ONLY if theirs else Agreement.NEITHER)
        )
    return out


@dataclass(frozen=True, slots=True)
class ShadowVerdict:
    comment: Comment
    primary: Classification
    shadow: Classification
    agrees: bool


Record = Callable[[list[ShadowVerdict]], Awaitable[None]]


class ShadowRunner:
    def __init__(
        self,
        backend: Backend,
        *,
        timeout_s: float,
        max_pending: int,
        metrics: ClassifierMetrics,
        record: Record,
    ) -> None:
        self._backend = backend
        self._timeout_s = timeout_s
        self._max_pending = max_pending
        self._metrics = metrics
        self._record = record
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return self._backend.name

    def submit(self, comments: Sequence[Comment], primary: Sequence[Classification]) -> bool:
        """Start a shadow run of this batch; False when too many are still running."""
        if len(self._pending) >= self._max_pending:
            self._metrics.shadow_failures.labels(self.name, "busy").inc()
            return False
        task = asyncio.create_task(self._run(list(comments), list(primary)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return True

    async def drain(self, timeout_s: float) -> None:
        """Wait for the running shadow batches; cancel what is left after ``timeout_s``."""
        if not self._pending:
            return
        _done, left = await asyncio.wait(set(self._pending), timeout=timeout_s)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left)

    async def _run(self, comments: list[Comment], primary: list[Classification]) -> None:
        items = [(c.text, c.lang) for c in comments]
        try:
            verdicts = await asyncio.wait_for(self._backend.classify(items), self._timeout_s)
            if len(verdicts) != len(items):
                raise ValueError("wrong number of verdicts")
        except Exception as exc:
            self._metrics.shadow_failures.labels(self.name, failure_reason(exc).value).inc()
            return
        rows = []
        for comment, mine, theirs in zip(comments, primary, verdicts, strict=True):
            outcome = compare(mine, theirs, labels=self._backend.scored_labels)
            for label, agreement in outcome.items():
                self._metrics.shadow_labels.labels(self.name, label.value, agreement.value).inc()
            agrees = all(a in (Agreement.BOTH, Agreement.NEITHER) for a in outcome.values())
            rows.append(ShadowVerdict(comment, mine, theirs, agrees))
        try:
            await self._record(rows)
        except Exception:
            self._metrics.shadow_failures.labels(self.name, "store").inc()
            log.warning("shadow verdicts of %s not stored", self.name, exc_info=True)
