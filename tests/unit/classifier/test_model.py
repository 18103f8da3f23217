"""The trained fast path with the lexicon OR'd in: the shipped artefact, crises, context."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from services.classifier.model import (
    DEFAULT_ARTEFACT,
    ArtefactError,
    LocalClassifier,
    load,
    load_default,
)
from services.classifier.model import artefact as artefacts
from services.classifier.model.artefact import Artefact, Band
from services.classifier.model.features import FeatureConfig, featurize, linear_scores
from shared.events import Label, Severity

S, A, Q, P = Label.SENSITIVE, Label.ABUSIVE, Label.QUESTION, Label.PRAISE
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "classifier"


def _crisis_sentences() -> list[str]:
    out = []
    for name in ("fr_crisis.jsonl", "en_crisis.jsonl"):
        for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if "sensitive" in record["labels"]:
                out.append(record["text"])
    return out


CRISIS = _crisis_sentences()


@pytest.fixture(scope="session")
def shipped() -> LocalClassifier:
    return load_default()


def _silenced(classifier: LocalClassifier) -> LocalClassifier:
    """The shipped model with every weight zeroed and biases far negative: it says no."""
    original = classifier.artefact
    return LocalClassifier(
        Artefact(
            manifest=original.manifest,
            weights=np.zeros_like(original.weights),
            bias=np.full_like(original.bias, -30.0),
        )
    )


def test_the_shipped_artefact_loads_and_its_version_is_its_manifests(
    shipped: LocalClassifier,
) -> None:
    manifest = json.loads((DEFAULT_ARTEFACT / "manifest.json").read_text(encoding="utf-8"))

    deep = shipped.deep
    expected = manifest["version"] + (f"+{deep.version}" if deep is not None else "")
    assert shipped.version == expected
    assert shipped.version.startswith("ngram-")
    assert shipped.classify("bonjour").model_version == shipped.version
    assert load_default() is shipped


def test_the_shipped_artefact_stays_small() -> None:
    deep = DEFAULT_ARTEFACT / "deep.npz"
    fast = sum(p.stat().st_size for p in DEFAULT_ARTEFACT.iterdir() if p != deep)
    assert fast < 5_000_000
    assert not deep.exists() or deep.stat().st_size < 4_500_000


@pytest.mark.parametrize("text", CRISIS)
def test_a_crisis_is_sensitive_even_when_the_model_says_no(
    shipped: LocalClassifier, text: str
) -> None:
    verdict = _silenced(shipped).classify(text)

    assert S in verdict.labels
    assert verdict.severity.rank >= Severity.MEDIUM.rank
    assert verdict.scores[S] > 0.0


@pytest.mark.parametrize(
    "text",
    ["je vais en finir", "I want to kill myself", "j'ai envie de mourir", "je veux plus vivre"],
)
def test_first_person_intent_is_critical_in_both_languages(
    shipped: LocalClassifier, text: str
) -> None:
    for classifier in (shipped, _silenced(shipped)):
        verdict = classifier.classify(text)
        assert S in verdict.labels and S not in verdict.unsure
        assert verdict.severity is Severity.CRITICAL


@pytest.mark.parametrize(
    "text",
    [
        "I'd kill for a coffee",
        "this joke killed me",
        "je vais en finir avec ce dossier avant midi",
        "je suis mort de rire",
        "I nearly died laughing",
    ],
)
def test_figures_of_speech_are_not_crises(shipped: LocalClassifier, text: str) -> None:
    verdict = shipped.classify(text)

    assert verdict.severity is not Severity.CRITICAL
    assert "suicide" not in verdict.categories


@pytest.mark.parametrize("text", ["I don't want to die", "je ne vais pas me tuer"])
def test_a_negated_crisis_goes_to_a_human(shipped: LocalClassifier, text: str) -> None:
    verdict = _silenced(shipped).classify(text)

    assert S in verdict.labels and S in verdict.unsure
    assert verdict.severity is Severity.MEDIUM
    assert "(negated)" in verdict.rationale


@pytest.mark.parametrize("text", ["why are you so stupid?", "pourquoi vous êtes aussi débiles ?"])
def test_a_hateful_rhetorical_question_is_not_a_question(
    shipped: LocalClassifier, text: str
) -> None:
    verdict = shipped.classify(text)

    assert A in verdict.labels and Q not in verdict.labels


def test_an_ordinary_question_is_a_question(shipped: LocalClassifier) -> None:
    for text in ("How do I book an appointment?", "Quels sont vos horaires d'ouverture ?"):
        assert shipped.classify(text).labels == (Q,)


def test_french_praise_is_praise_even_when_the_model_says_no(shipped: LocalClassifier) -> None:
    for classifier in (shipped, _silenced(shipped)):
        assert P in classifier.classify("Merci beaucoup, super vidéo !").labels
        assert P not in classifier.classify("merci pour rien, toujours pas de réponse").labels


def _sure_of(classifier: LocalClassifier, *labels: Label) -> LocalClassifier:
    """The shipped model saying yes to ``labels`` and no to the rest, whatever the text."""
    original = classifier.artefact
    heads = original.manifest.heads
    bias = np.full_like(original.bias, -30.0)
    for label in labels:
        bias[heads.index(label.value)] = 30.0
    return LocalClassifier(
        Artefact(manifest=original.manifest, weights=np.zeros_like(original.weights), bias=bias)
    )


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("idk what it is either, I think it's the lighting", False),
        ("I don't know what the middle ground is, but it's somewhere between", False),
        ("ah i was also confused but i think they mean friends", False),
        ("Not sure how you got that out of my post.", False),
        # Asking for help, a "?", an asking form: still questions.
        ("I don't know how to cancel my subscription", True),
        ("Not sure what you mean, can you explain?", True),
        ("I was wondering if you ship to Canada, not sure", True),
    ],
)
def test_a_statement_of_not_knowing_is_not_a_question(
    shipped: LocalClassifier, text: str, asked: bool
) -> None:
    verdict = _sure_of(shipped, Q).classify(text)

    assert (Q in verdict.labels) is asked
    assert Q not in verdict.unsure


@pytest.mark.parametrize(
    ("text", "praised"),
    [
        ("Glad we agree.", False),
        ("You're not wrong", False),
        ("Ah. Okay. Good luck with work tomorrow.", False),
        ("Je suis d'accord avec vous", False),
        # A praise word keeps it praise; luck that was had is no wish.
        ("Thanks, you're right.", True),
        ("I agree, great explanation", True),
        ("I've had good luck reselling there, it is secure and easy", True),
    ],
)
def test_agreement_alone_is_not_praise(shipped: LocalClassifier, text: str, praised: bool) -> None:
    verdict = _sure_of(shipped, P).classify(text)

    assert (P in verdict.labels) is praised
    assert P not in verdict.unsure


def test_a_batch_is_classified_in_order_and_like_one_by_one(shipped: LocalClassifier) -> None:
    items: list[tuple[str, str | None]] = [
        ("I want to kill myself", "en"),
        ("Merci beaucoup !", "fr"),
        ("", None),
        ("ok", "fr-FR"),
    ]
    batch = shipped.classify_batch(items)

    assert batch == [shipped.classify(text, hint) for text, hint in items]
    assert [v.lang for v in batch] == ["en", "fr", "und", "fr"]
    assert shipped.classify_batch([]) == []


def test_every_verdict_is_complete_and_bounded(shipped: LocalClassifier) -> None:
    for text in [*CRISIS, "you are an idiot", "What time is it?", "Thanks!", ""]:
        verdict = shipped.classify(text)
        assert set(verdict.scores) == set(Label)
        assert all(0.0 <= s <= 1.0 for s in verdict.scores.values())
        assert verdict.rationale and verdict.model_version == shipped.version


def test_model_labels_say_which_words_weighed(shipped: LocalClassifier) -> None:
    verdict = shipped.classify("you are a stupid idiot")

    assert A in verdict.labels
    assert "abusive:model" in verdict.rationale


def test_loading_a_missing_artefact_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="manifest.json: missing"):
        load(tmp_path)


def test_loading_a_corrupt_artefact_is_refused(tmp_path: Path) -> None:
    for name in ("manifest.json", "weights.npz"):
        (tmp_path / name).write_bytes((DEFAULT_ARTEFACT / name).read_bytes())
    (tmp_path / "weights.npz").write_bytes(b"not a zip file")

    with pytest.raises(ArtefactError, match="unreadable weights"):
        load(tmp_path)


def test_weights_that_do_not_match_the_manifest_are_refused(
    tmp_path: Path, shipped: LocalClassifier
) -> None:
    original = shipped.artefact
    weights = original.weights.astype(np.float16)
    weights[0, 0] += np.float16(1.0)
    artefacts.save(tmp_path, original.manifest, weights, original.bias)

    with pytest.raises(ArtefactError, match="do not match the version"):
        load(tmp_path)


def test_a_manifest_round_trips() -> None:
    manifest = load_default().artefact.manifest
    again = artefacts.Manifest.from_json(manifest.to_json())

    assert again == manifest
    assert isinstance(again.bands["sensitive"], Band)


def test_changed_thresholds_are_refused_under_the_old_version(
    tmp_path: Path, shipped: LocalClassifier
) -> None:
    original = shipped.artefact
    bands = dict(original.manifest.bands)
    bands["sensitive"] = Band(threshold=0.99, low=0.98, high=0.995)
    edited = dataclasses.replace(original.manifest, bands=bands)
    artefacts.save(tmp_path, edited, original.weights.astype(np.float16), original.bias)

    with pytest.raises(ArtefactError, match="do not match the version"):
        load(tmp_path)
    renamed = artefacts.versioned(edited, original.weights.astype(np.float16), original.bias)
    assert renamed.version != original.manifest.version


def test_linear_scores_equal_the_dense_product() -> None:
    config = FeatureConfig(buckets_log2=10)
    texts = ["merci pour la vidéo", "", "why would anyone do that?", "merci merci merci"]
    weights = np.random.default_rng(3).normal(size=(config.buckets, 5))
    bias = np.arange(5, dtype=np.float32)
    features = featurize(texts, config)
    dense = np.zeros((len(texts), config.buckets))
    np.add.at(dense, (features.rows, features.cols), features.values)

    scores = linear_scores(features, weights, bias)

    assert scores.dtype == np.float32 and scores.shape == (4, 5)
    np.testing.assert_allclose(scores, dense @ weights + bias, rtol=1e-5, atol=1e-5)
