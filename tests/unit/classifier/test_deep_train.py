"""Training the deep model on a tiny data set, with a stand-in encoder (the real one is run by
``test_classifier_cli``'s ``train``)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.classifier.model import LocalClassifier
from services.classifier.model.deep_train import MIN_DOCS, train_deep, vocabulary
from services.classifier.model.train import train
from shared.events import Label
from tests.unit.classifier.test_model_train import SMALL, write_tiny


def _encode(words: list[str]) -> npt.NDArray[np.float32]:
    """A fixed pseudo-random vector per word (deterministic across runs)."""
    return np.stack(
        [
            np.random.default_rng(zlib.crc32(word.encode())).standard_normal(16).astype(np.float32)
            for word in words
        ]
    )


def test_the_vocabulary_keeps_frequent_words_rarest_weighing_most() -> None:
    texts = ["merci merci bravo", "merci bravo", "merci bravo", "merci rare"]

    words, weights = vocabulary(texts)

    assert words == ["merci", "bravo"]  # "rare" is in fewer than MIN_DOCS texts
    assert MIN_DOCS == 3
    assert weights[1] > weights[0]


def test_training_the_deep_model_is_deterministic_and_tied_to_its_fast_path(
    tmp_path: Path,
) -> None:
    trained = train(write_tiny(tmp_path / "data"), config=SMALL)

    first = train_deep(trained, _encode)
    second = train_deep(trained, _encode)

    assert first.version == second.version
    assert first.labels == (Label.PRAISE,)
    assert first.fast_version == trained.artefact.manifest.version
    assert 0.0 <= float(first.thresholds[0]) <= 1.0
    classifier = LocalClassifier(trained.artefact, deep=first)
    assert classifier.version.endswith("+" + first.version)
    assert len(classifier.classify_batch([("thank you so much", None), ("tea", None)])) == 2
