"""The deep model for the unsure band: who reaches it, what it may change, and the fallback."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from services.classifier.backends.local import default_local
from services.classifier.model import DEFAULT_ARTEFACT, LocalClassifier, load
from services.classifier.model import artefact as artefacts
from services.classifier.model import deep as deep_models
from services.classifier.model.artefact import ArtefactError
from services.classifier.model.deep import DeepModel, asked, refine, refine_batch
from services.classifier.settings import ClassifierSettings
from shared.events import Classification, Label, Severity

S, A, Q, P = Label.SENSITIVE, Label.ABUSIVE, Label.QUESTION, Label.PRAISE
FAST = artefacts.load(DEFAULT_ARTEFACT)


def _model(*, says: float, labels: tuple[Label, ...] = (P,), fast_version: str = "") -> DeepModel:
    """A two-word model whose stacked probability is ``says`` whatever the text."""
    logit = float(np.log(says / (1.0 - says)))
    return DeepModel(
        vocabulary=("merci", "super"),
        vectors=np.eye(2, dtype=np.float32),
        word_weights=np.ones(2, dtype=np.float32),
        labels=labels,
        head_weights=np.zeros((2, len(labels)), dtype=np.float32),
        head_bias=np.zeros(len(labels), dtype=np.float32),
        thresholds=np.full(len(labels), 0.5, dtype=np.float32),
        stack=np.tile(np.asarray([0.0, 0.0, logit], np.float32), (len(labels), 1)),
        fast_version=fast_version or FAST.manifest.version,
    )


def _verdict(
    labels: Sequence[Label] = (),
    unsure: Sequence[Label] = (),
    severity: Severity = Severity.NONE,
) -> Classification:
    return Classification(
        labels=tuple(labels),
        severity=severity,
        scores=dict.fromkeys(Label, 0.4),
        unsure=tuple(unsure),
        lang="fr",
        rationale="fast",
        model_version="ngram-x",
    )


@pytest.mark.parametrize(
    ("before", "deep_p", "labels", "unsure"),
    [
        # Unsure praise: the deep probability decides it, and it is no longer unsure.
        (_verdict(unsure=(P,)), 0.9, (P,), ()),
        (_verdict(labels=(P,), unsure=(P,)), 0.1, (), ()),
        # A praise the fast path is sure of is left alone, whatever the deep model says.
        (_verdict(labels=(P,)), 0.1, (P,), ()),
        (_verdict(), 0.9, (), ()),
        # Never praise for an abusive comment.
        (_verdict(labels=(A,), unsure=(P,), severity=Severity.MEDIUM), 0.9, (A,), ()),
        # Other unsure labels stay unsure.
        (_verdict(labels=(S,), unsure=(S, P), severity=Severity.MEDIUM), 0.9, (S, P), (S,)),
    ],
)
def test_only_unsure_deep_labels_change(
    before: Classification, deep_p: float, labels: tuple[Label, ...], unsure: tuple[Label, ...]
) -> None:
    after = refine(before, {P: deep_p}, {P: 0.5}, version="ngram-x+deep-y")

    assert after.labels == labels
    assert after.unsure == unsure
    assert after.model_version == "ngram-x+deep-y"


def test_the_deep_model_never_decides_sensitive() -> None:
    before = _verdict(labels=(S,), unsure=(S,), severity=Severity.MEDIUM)

    after = refine(before, {S: 0.0}, {S: 0.5}, version="v")

    assert after.labels == (S,) and after.unsure == (S,) and after.severity is Severity.MEDIUM
    with pytest.raises(ArtefactError, match="sensitive"):
        _model(says=0.1, labels=(S,))


def test_a_question_decided_by_the_deep_model_moves_the_severity() -> None:
    asked_ = refine(_verdict(unsure=(Q,)), {Q: 0.9}, {Q: 0.5}, version="v")
    dropped = refine(_verdict((Q,), (Q,), Severity.LOW), {Q: 0.1}, {Q: 0.5}, version="v")

    assert (asked_.labels, asked_.severity) == ((Q,), Severity.LOW)
    assert (dropped.labels, dropped.severity) == ((), Severity.NONE)


def test_only_the_unsure_comments_reach_the_deep_model(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    original = DeepModel.sentence_vectors

    def recording(self: DeepModel, normalised: Sequence[str]) -> np.ndarray:
        seen.extend(normalised)
        return original(self, normalised)

    monkeypatch.setattr(DeepModel, "sentence_vectors", recording)
    verdicts = [_verdict(), _verdict(unsure=(P,)), _verdict(labels=(S,), unsure=(S,))]

    out = refine_batch(_model(says=0.9), ["a", "b", "c"], verdicts, version="v")

    assert seen == ["b"]
    assert out[0] is verdicts[0] and out[2] is verdicts[2]
    assert out[1].labels == (P,)
    assert [asked(v, (P,)) for v in verdicts] == [(), (P,), ()]


@pytest.mark.parametrize(
    "text", ["je vais en finir", "I want to kill myself", "je veux mourir, merci pour tout"]
)
@pytest.mark.parametrize("says", [0.01, 0.99])
def test_a_crisis_stays_sensitive_whatever_the_deep_model_says(text: str, says: float) -> None:
    classifier = LocalClassifier(FAST, deep=_model(says=says))

    verdict = classifier.classify(text)

    assert S in verdict.labels and verdict.severity is Severity.CRITICAL


def test_a_deep_model_round_trips_and_names_its_version(tmp_path: Path) -> None:
    model = _model(says=0.7)
    deep_models.save(tmp_path, model)

    loaded = deep_models.load(tmp_path)

    assert loaded.version == model.version and loaded.version.startswith("deep-")
    assert loaded.vocabulary == model.vocabulary and loaded.labels == (P,)


def test_a_tampered_deep_model_is_refused(tmp_path: Path) -> None:
    deep_models.save(tmp_path, _model(says=0.7))
    with np.load(tmp_path / deep_models.DEEP_FILE) as stored:
        arrays = dict(stored)
    arrays["head_bias"] = arrays["head_bias"] + 1.0
    np.savez_compressed(tmp_path / deep_models.DEEP_FILE, **arrays)

    with pytest.raises(ArtefactError, match="do not match"):
        deep_models.load(tmp_path)


def _fast_only(tmp_path: Path) -> Path:
    for name in (artefacts.MANIFEST, artefacts.WEIGHTS):
        shutil.copy(DEFAULT_ARTEFACT / name, tmp_path / name)
    return tmp_path


def test_without_a_deep_model_the_fast_path_runs_alone_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        classifier = load(_fast_only(tmp_path))

    assert classifier.deep is None and classifier.version == FAST.manifest.version
    assert "fast path only" in caplog.text
    assert classifier.classify("Merci beaucoup, super vidéo !").labels == (P,)


def test_a_deep_model_fitted_on_another_fast_path_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = _fast_only(tmp_path)
    deep_models.save(directory, _model(says=0.7, fast_version="ngram-0000000000"))

    with caplog.at_level(logging.WARNING):
        classifier = load(directory)

    assert classifier.deep is None and "ngram-0000000000" in caplog.text


def test_a_deep_model_of_this_fast_path_is_used(tmp_path: Path) -> None:
    directory = _fast_only(tmp_path)
    model = _model(says=0.7)
    deep_models.save(directory, model)

    classifier = load(directory)

    assert classifier.deep is not None
    assert classifier.version == f"{FAST.manifest.version}+{model.version}"
    assert load(directory, deep=False).version == FAST.manifest.version


@pytest.mark.parametrize(("value", "deep"), [("on", True), ("off", False), (None, True)])
def test_the_deep_setting(monkeypatch: pytest.MonkeyPatch, value: str | None, deep: bool) -> None:
    if value is None:
        monkeypatch.delenv("VIGIE_CLASSIFIER_DEEP", raising=False)
    else:
        monkeypatch.setenv("VIGIE_CLASSIFIER_DEEP", value)

    assert ClassifierSettings().classifier_deep is deep


def test_the_local_backend_without_the_deep_model_is_the_fast_path() -> None:
    assert default_local(deep=False).version == FAST.manifest.version
