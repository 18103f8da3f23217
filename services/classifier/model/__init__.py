"""The comment classifier's trained model: hashed n-gram features, linear heads, the
lexicon OR'd in, and a deeper model for the labels a comment is unsure of. numpy only at
run time; training (``model.train``, ``model.deep_train``) uses scikit-learn."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from services.classifier import rules
from services.classifier.lexicon import normalize
from services.classifier.model import artefact as artefacts
from services.classifier.model import deep as deep_models
from services.classifier.model.artefact import ArtefactError
from services.classifier.model.deep import DeepModel, refine_batch
from services.classifier.model.ensemble import Decider, calibrated
from services.classifier.model.features import featurize, linear_scores
from shared.events import Classification

__all__ = ["ArtefactError", "LocalClassifier", "load", "load_default", "DEFAULT_ARTEFACT"]

DEFAULT_ARTEFACT = Path(__file__).resolve().parents[1] / "artefacts"

log = logging.getLogger(__name__)


class LocalClassifier:
    """Classifies comments on the CPU from a loaded artefact; safe to share (read-only).

    With ``deep``, the comments the fast path is unsure of (question, praise) are decided by
    the deeper model, and the version names both (``ngram-…+deep-…``).
    """

    def __init__(self, artefact: artefacts.Artefact, *, deep: DeepModel | None = None) -> None:
        self._artefact = artefact
        self._deep = deep
        self._decider = Decider(artefact)
        # float64, so that the sparse product sums as precisely as numpy's bincount did.
        self._weights = artefact.weights.astype(np.float64)
        self.version: str = artefact.manifest.version
        if deep is not None:
            self.version = f"{self.version}+{deep.version}"
        self._decider.version = self.version

    @property
    def artefact(self) -> artefacts.Artefact:
        return self._artefact

    @property
    def deep(self) -> DeepModel | None:
        return self._deep

    def classify_batch(self, items: Sequence[tuple[str, str | None]]) -> list[Classification]:
        """``(text, lang_hint)`` pairs in, one verdict each, in order."""
        if not items:
            return []
        normalised = [normalize(text) for text, _ in items]
        features = featurize(normalised, self._artefact.manifest.features)
        raw = linear_scores(features, self._weights, self._artefact.bias)
        probs = calibrated(self._artefact, raw)
        scans = rules.scan_many(normalised)
        verdicts = [
            self._decider.decide(text, hint, row, scan)
            for text, (_, hint), row, scan in zip(normalised, items, probs, scans, strict=True)
        ]
        if self._deep is None:
            return verdicts
        return refine_batch(self._deep, normalised, verdicts, version=self.version)

    def classify(self, text: str, lang_hint: str | None = None) -> Classification:
        return self.classify_batch([(text, lang_hint)])[0]


def load(path: Path, *, deep: bool = True) -> LocalClassifier:
    """The artefact in ``path``; ``ArtefactError`` if it is missing or corrupt.

    With ``deep``, its deep model too when there is one; without a usable one the classifier
    runs the fast path alone, and says so once in the log.
    """
    fast = artefacts.load(path)
    model = None
    if deep:
        try:
            model = deep_models.load(path)
            if model.fast_version != fast.manifest.version:
                raise ArtefactError(
                    f"{path}: the deep model was fitted on {model.fast_version}, "
                    f"not on {fast.manifest.version}"
                )
        except ArtefactError as exc:
            model = None
            log.warning("classifier: deep model unavailable, fast path only (%s)", exc)
    return LocalClassifier(fast, deep=model)


@cache
def load_default(*, deep: bool = True) -> LocalClassifier:
    """The artefact shipped in ``services/classifier/artefacts`` (loaded once)."""
    return load(DEFAULT_ARTEFACT, deep=deep)
