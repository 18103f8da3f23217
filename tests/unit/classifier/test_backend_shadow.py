"""Shadow runs: compared per label, bounded, and harmless when they fail."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from services.classifier.backends.base import ALL_LABELS, Item
from services.classifier.backends.shadow import Agreement, ShadowRunner, ShadowVerdict, compare
from services.classifier.metrics import ClassifierMetrics
from shared.events import Classification, Label, Severity
from tests.unit import factories as f

S, A, Q, P = Label.SENSITIVE, Label.ABUSIVE, Label.QUESTION, Label.PRAISE


def verdict(*labels: Label) -> Classification:
    return Classification(
        labels=labels,
        severity=Severity.NONE,
        scores=dict.fromkeys(Label, 0.0),
        lang="en",
        rationale="-",
        model_version="v",
    )


def test_each_label_the_shadow_decides_is_compared() -> None:
    out = compare(verdict(S, Q), verdict(S, A), labels=frozenset({S, A, Q}))

    assert out == {
        S: Agreement.BOTH,
        A: Agreement.SHADOW_ONLY,
        Q: Agreement.PRIMARY_ONLY,
    }
    assert compare(verdict(), verdict(), labels=ALL_LABELS)[P] is Agreement.NEITHER


class Gate:
    """A backend that answers only when the test opens it."""

    name = "gate"
    scored_labels = ALL_LABELS

    def __init__(self) -> None:
        self.open = asyncio.Event()

    async def classify(self, items: Sequence[Item]) -> list[Classification]:
        await self.open.wait()
        return [verdict() for _ in items]


async def test_shadow_runs_beyond_the_limit_are_skipped_not_queued() -> None:
    registry = CollectorRegistry()
    stored: list[ShadowVerdict] = []

    async def record(rows: list[ShadowVerdict]) -> None:
        stored.extend(rows)

    gate = Gate()
    runner = ShadowRunner(
        gate, timeout_s=5.0, max_pending=1, metrics=ClassifierMetrics(registry), record=record
    )

    first = runner.submit([f.comment("forum:c-1")], [verdict(Q)])
    second = runner.submit([f.comment("forum:c-2")], [verdict()])
    gate.open.set()
    await runner.drain(5.0)

    assert (first, second) == (True, False)
    assert [row.comment.comment_id for row in stored] == ["forum:c-1"]
    assert stored[0].agrees is False
    busy = {"backend": "gate", "reason": "busy"}
    assert registry.get_sample_value("vigie_classifier_shadow_failures_total", busy) == 1


@pytest.mark.parametrize("timeout_s", [0.05])
async def test_a_shadow_that_never_answers_is_given_up(timeout_s: float) -> None:
    registry = CollectorRegistry()

    async def record(rows: list[ShadowVerdict]) -> None:
        raise AssertionError("nothing to store")

    runner = ShadowRunner(
        Gate(),
        timeout_s=timeout_s,
        max_pending=2,
        metrics=ClassifierMetrics(registry),
        record=record,
    )
    runner.submit([f.comment()], [verdict()])
    await runner.drain(5.0)

    timeout = {"backend": "gate", "reason": "timeout"}
    assert registry.get_sample_value("vigie_classifier_shadow_failures_total", timeout) == 1


async def test_a_store_failure_is_counted_not_raised() -> None:
    registry = CollectorRegistry()

    async def record(rows: list[ShadowVerdict]) -> None:
        raise OSError("database gone")

    gate = Gate()
    gate.open.set()
    runner = ShadowRunner(
        gate, timeout_s=1.0, max_pending=2, metrics=ClassifierMetrics(registry), record=record
    )
    runner.submit([f.comment()], [verdict()])
    await runner.drain(5.0)

    failed = {"backend": "gate", "reason": "store"}
    assert registry.get_sample_value("vigie_classifier_shadow_failures_total", failed) == 1
