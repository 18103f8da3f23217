"""The local backend classifies small batches of short texts on the event loop (a thread
costs more than they do) and anything bigger in a worker thread, long texts included."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from services.classifier import rules
from services.classifier.backends.base import Item
from services.classifier.backends.local import INLINE_MAX, INLINE_MAX_CHARS, LocalBackend
from shared.events import Classification


@pytest.mark.parametrize(
    ("items", "on_the_loop"),
    [
        ([("short", "en")], True),
        ([("short", "en")] * INLINE_MAX, True),
        ([("x" * INLINE_MAX_CHARS, "en")], True),
        ([("short", "en")] * (INLINE_MAX + 1), False),
        ([("x" * (INLINE_MAX_CHARS + 1), "en")], False),  # one long comment
        ([("x" * (INLINE_MAX_CHARS // 2 + 1), "fr")] * 2, False),  # two halves
    ],
)
async def test_only_small_batches_of_short_texts_run_on_the_loop(
    items: list[Item], on_the_loop: bool
) -> None:
    threads: list[int] = []

    def batch(given: Sequence[Item]) -> list[Classification]:
        threads.append(threading.get_ident())
        return [rules.classify(text[:50], lang_hint=hint) for text, hint in given]

    verdicts = await LocalBackend(batch, "recording-1").classify(items)

    assert len(verdicts) == len(items)
    assert (threads == [threading.get_ident()]) is on_the_loop
