"""Training on a tiny data set: deterministic, scope-masked, the split never trained on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.classifier.model import LocalClassifier
from services.classifier.model.dataset import Item, is_validation
from services.classifier.model.features import FeatureConfig, featurize, word_bucket, word_buckets
from services.classifier.model.train import HEADS, save, split, train
from shared.events import Label

SMALL = FeatureConfig(buckets_log2=12)
ROOT = Path(__file__).resolve().parents[3]

ABUSIVE = ["you are a total idiot", "shut up loser", "what a moron you are", "you pathetic clown"]
CALM = ["the weather is nice today", "we went to the market", "the bus was on time", "tea is hot"]
QUESTIONS = ["how do I book a slot?", "where is the shop?", "when do you open?", "is it free?"]
PRAISE = ["thank you so much, great work", "amazing video, thanks", "love it, well done"]


def write_tiny(directory: Path, copies: int = 6) -> Path:
    rows = []
    for i in range(copies):
        rows += [
            {"text": f"{t} {i}", "lang": "en", "labels": ["abusive"], "label_scope": ["abusive"]}
            for t in ABUSIVE
        ]
        rows += [
            {"text": f"{t} {i}", "lang": "en", "labels": [], "label_scope": ["abusive"]}
            for t in CALM
        ]
        rows += [
            {
                "text": f"{t} {i}",
                "lang": "en",
                "labels": ["question"],
                "label_scope": ["praise", "question"],
            }
            for t in QUESTIONS
        ]
        rows += [
            {
                "text": f"{t} {i}",
                "lang": "en",
                "labels": ["praise"],
                "label_scope": ["praise", "question"],
            }
            for t in PRAISE
        ]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "train.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8"
    )
    return directory


def test_training_twice_gives_the_same_artefact(tmp_path: Path) -> None:
    data = write_tiny(tmp_path / "data")

    first = train(data, config=SMALL)
    second = train(data, config=SMALL)

    assert first.artefact.manifest.version == second.artefact.manifest.version
    assert (first.artefact.weights == second.artefact.weights).all()
    assert first.artefact.manifest.heads == tuple(HEADS)
    assert len(first.artefact.manifest.data["train.jsonl"]) == 64


def test_a_trained_artefact_saves_loads_and_learns(tmp_path: Path) -> None:
    trained = train(write_tiny(tmp_path / "data"), config=SMALL)
    save(trained, tmp_path / "out")

    from services.classifier.model import load

    classifier = load(tmp_path / "out")
    assert classifier.version == trained.artefact.manifest.version
    abusive = classifier.artefact.manifest.heads.index("abusive")
    scores = classifier.classify_batch([("you are a total moron", None), ("tea is nice", None)])
    assert scores[0].scores[Label.ABUSIVE] > scores[1].scores[Label.ABUSIVE]
    assert abusive == 1


def test_the_validation_split_is_stable_and_keeps_duplicates_together() -> None:
    texts = [f"comment number {i}" for i in range(2000)]
    chosen = [t for t in texts if is_validation(t)]

    assert 100 < len(chosen) < 300
    assert all(is_validation(t.upper() + "  ") for t in chosen)


def test_no_item_is_in_two_parts() -> None:
    items = [Item(f"text {i}", "en", frozenset(), frozenset(Label)) for i in range(500)]
    parts = split(items)

    names = [{i.text for i in part} for part in (parts.train, parts.calibration, parts.validation)]
    assert sum(len(n) for n in names) == 500
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])


def test_a_label_outside_the_scope_is_not_trained_as_negative(tmp_path: Path) -> None:
    trained = train(write_tiny(tmp_path / "data"), config=SMALL)
    classifier = LocalClassifier(trained.artefact)

    # Question items were never annotated for abuse and abusive items never for questions:
    # the question head must not learn "abusive sources are not questions" from them.
    from services.classifier.model.train import _targets

    index, _, _ = _targets(trained.split.train, HEADS["question"])
    assert all(Label.QUESTION in trained.split.train[i].scope for i in index)
    assert classifier.version == trained.artefact.manifest.version


@pytest.mark.parametrize("text", ["", "a", "é", "😀 ok", "x" * 5000])
def test_features_handle_any_text(text: str) -> None:
    features = featurize([text, "hello"], SMALL)

    assert features.n_rows == 2
    assert (features.cols < SMALL.buckets).all() and (features.cols >= 0).all()
    assert set(features.rows.tolist()) <= {0, 1}


def test_features_never_span_two_texts() -> None:
    together = featurize(["ab", "cd"], SMALL)
    alone = [featurize([t], SMALL) for t in ("ab", "cd")]

    for row, single in enumerate(alone):
        assert sorted(together.cols[together.rows == row].tolist()) == sorted(single.cols.tolist())


def test_feature_hashing_does_not_depend_on_the_python_process() -> None:
    """The shipped weights are indexed by these buckets: they must be the same everywhere."""
    code = (
        "from services.classifier.model.features import featurize, FeatureConfig;"
        "print(sorted(featurize(['salut, ça va ?'], FeatureConfig()).cols.tolist()))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=ROOT,
        ).stdout
        for seed in ("1", "2")
    }
    here = str(sorted(featurize(["salut, ça va ?"], FeatureConfig()).cols.tolist()))

    assert runs == {here + "\n"}


def test_the_one_word_bucket_matches_the_batch_hash() -> None:
    words = ["hello", "génial", "x", "l'idiot", "😀"]

    assert [word_bucket(w, SMALL) for w in words] == word_buckets(words, SMALL).tolist()
