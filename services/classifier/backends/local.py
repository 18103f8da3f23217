"""The in-process classifier behind the ``Backend`` interface.

``LocalBackend`` wraps a plain batch function and its version, so it serves the first
lexicon classifier and the trained ensemble alike. ``default_local`` is the one place that
says which of them the service runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.classifier import rules
from services.classifier.backends.base import ALL_LABELS, Item
from services.classifier.model import load_default
from shared.events import Classification, Label

ClassifyBatch = Callable[[Sequence[Item]], list[Classification]]


class BatchClassifier(Protocol):
    """What a local classifier object offers (the trained ensemble, or ``rules`` alone)."""

    @property
    def version(self) -> str: ...

    def classify_batch(self, items: Sequence[Item]) -> list[Classification]: ...


class LexiconClassifier:
    """The first classifier (``rules.classify``) as a batch classifier."""

    version = rules.MODEL_VERSION

    def classify_batch(self, items: Sequence[Item]) -> list[Classification]:
        return [rules.classify(text, lang_hint=hint) for text, hint in items]


def load_lexicon() -> LexiconClassifier:
    return LexiconClassifier()


def load_local_classifier(*, deep: bool = True) -> BatchClassifier:
    """The local classifier the service runs: the trained ensemble shipped in
    ``services/classifier/artefacts`` (its heads OR'd with the crisis lexicon), with its deep
    model for unsure comments unless ``deep`` is off."""
    return load_default(deep=deep)


INLINE_MAX = 16
INLINE_MAX_CHARS = 8000
"""Batches up to ``INLINE_MAX`` comments and ``INLINE_MAX_CHARS`` characters are classified
on the event loop (a few ms at most): handing a batch to a thread costs 0.3–0.45 ms, more
than a handful of comments take to classify. A long text goes to the thread whatever the
batch: classifying costs about 0.8 ms per 1,000 characters, and a signed body may carry a
comment of 250,000 (200 ms), which would hold the priority lane's next crisis."""


@dataclass(frozen=True, slots=True)
class LocalBackend:
    """A batch function run off the event loop (but for small batches, see ``INLINE_MAX``),
    so a slow model never stalls the consumer."""

    classify_batch: ClassifyBatch
    version: str
    name: str = "local"

    @classmethod
    def of(cls, classifier: BatchClassifier, *, name: str = "local") -> LocalBackend:
        return cls(classifier.classify_batch, classifier.version, name)

    @property
    def scored_labels(self) -> frozenset[Label]:
        return ALL_LABELS

    async def classify(self, items: Sequence[Item]) -> list[Classification]:
        if not items:
            return []
        if len(items) <= INLINE_MAX and sum(len(text) for text, _ in items) <= INLINE_MAX_CHARS:
            verdicts = self.classify_batch(list(items))
        else:
            verdicts = await asyncio.to_thread(self.classify_batch, list(items))
        if len(verdicts) != len(items):
            raise RuntimeError(f"{self.version} returned {len(verdicts)} verdicts for {len(items)}")
        return verdicts


def default_local(*, deep: bool = True) -> LocalBackend:
    return LocalBackend.of(load_local_classifier(deep=deep))


def lexicon_backend() -> LocalBackend:
    return LocalBackend.of(load_lexicon(), name="lexicon")
