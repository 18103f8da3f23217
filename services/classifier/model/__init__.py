"""The comment classifier's trained model: hashed n-gram features, linear heads, the
lexicon OR'd in. numpy only at run time; training (``model.train``) uses scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from services.classifier import rules
from services.classifier.lexicon import normalize
from services.classifier.model import artefact as artefacts
from services.classifier.model.artefact import ArtefactError
from services.classifier.model.ensemble import Decider, calibrated
from services.classifier.model.features import featurize, linear_scores
from shared.events import Classification

__all__ = ["ArtefactError", "LocalClassifier", "load", "load_default", "DEFAULT_ARTEFACT"]

DEFAULT_ARTEFACT = Path(__file__).resolve().parents[1] / "artefacts"


class LocalClassifier:
    """Classifies comments on the CPU from a loaded artefact; safe to share (read-only)."""

    def __init__(self, artefact: artefacts.Artefact) -> None:
        self._artefact = artefact
        self._decider = Decider(artefact)
        # Head-major copy: each head's weights are gathered from one contiguous row.
        self._weights_by_head = np.ascontiguousarray(artefact.weights.T)
        self.version: str = artefact.manifest.version

    @property
    def artefact(self) -> artefacts.Artefact:
        return self._artefact

    def classify_batch(self, items: Sequence[tuple[str, str | None]]) -> list[Classification]:
        """``(text, lang_hint)`` pairs in, one verdict each, in order."""
        if not items:
            return []
        normalised = [normalize(text) for text, _ in items]
        features = featurize(normalised, self._artefact.manifest.features)
        raw = linear_scores(features, self._weights_by_head, self._artefact.bias)
        probs = calibrated(self._artefact, raw)
        scans = rules.scan_many(normalised)
        return [
            self._decider.decide(text, hint, row, scan)
            for text, (_, hint), row, scan in zip(normalised, items, probs, scans, strict=True)
        ]

    def classify(self, text: str, lang_hint: str | None = None) -> Classification:
        return self.classify_batch([(text, lang_hint)])[0]


def load(path: Path) -> LocalClassifier:
    """The artefact in ``path``; ``ArtefactError`` if it is missing or corrupt."""
    return LocalClassifier(artefacts.load(path))


@cache
def load_default() -> LocalClassifier:
    """The artefact shipped in ``services/classifier/artefacts`` (loaded once)."""
    return load(DEFAULT_ARTEFACT)
