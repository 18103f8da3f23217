"""The lexicon classifier, French and English: labels, severity, categories, certainty."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from services.classifier.lexicon import ABUSIVE_CUES, SENSITIVE_CUES, Cue
from services.classifier.rules import MODEL_VERSION, classify
from shared.events import Label, Severity

S, A, Q, P = Label.SENSITIVE, Label.ABUSIVE, Label.QUESTION, Label.PRAISE


@dataclass(frozen=True)
class Case:
    text: str
    labels: tuple[Label, ...]
    severity: Severity
    categories: tuple[str, ...] = ()
    unsure: tuple[Label, ...] = ()
    lang: str | None = None


CASES = [
    # Crisis: a person saying they will harm themselves is critical, in both languages.
    Case("I want to kill myself", (S,), Severity.CRITICAL, ("suicide",), lang="en"),
    Case("I’m going to end it all tonight", (S,), Severity.CRITICAL, ("suicide",)),
    Case("I don't want to live anymore", (S,), Severity.CRITICAL, ("suicide",)),
    Case("je vais en finir", (S,), Severity.CRITICAL, ("suicide",), lang="fr"),
    Case("j'ai envie de mourir", (S,), Severity.CRITICAL, ("suicide",), lang="fr"),
    Case("J’ai envie de mourir", (S,), Severity.CRITICAL, ("suicide",), lang="fr"),
    Case("je veux mourir", (S,), Severity.CRITICAL, ("suicide",), lang="fr"),
    Case("Je n'en peux plus, je veux en finir", (S,), Severity.CRITICAL, ("suicide",)),
    Case("I keep cutting myself", (S,), Severity.CRITICAL, ("self_harm_intent",)),
    # Sensitive without intent: high, not critical.
    Case("I can't breathe and have chest pain", (S,), Severity.HIGH, ("medical_distress",)),
    Case("my husband hits me", (S,), Severity.HIGH, ("domestic_violence",)),
    # A negated crisis cue stays sensitive, but unsure, for a human to look at.
    Case("I don't want to die", (S,), Severity.MEDIUM, ("suicide",), unsure=(S,), lang="en"),
    Case("I won't kill myself", (S,), Severity.MEDIUM, ("suicide",), unsure=(S,)),
    Case("je ne vais pas me tuer", (S,), Severity.MEDIUM, ("suicide",), unsure=(S,), lang="fr"),
    # Figures of speech are not crises.
    Case("I'd kill for a coffee", (), Severity.NONE, lang="en"),
    Case("this joke killed me", (), Severity.NONE),
    Case("this traffic is killing me", (), Severity.NONE),
    # Abuse.
    Case("you are an idiot", (A,), Severity.MEDIUM, ("insult",), lang="en"),
    Case("tu es un idiot", (A,), Severity.MEDIUM, ("insult",), lang="fr"),
    Case("T'es vraiment un abruti", (A,), Severity.MEDIUM, ("insult",), lang="fr"),
    Case("je vais te tuer", (A,), Severity.HIGH, ("threat",), lang="fr"),
    Case("I will kill you", (A,), Severity.HIGH, ("threat",), lang="en"),
    Case("go kill yourself", (A,), Severity.MEDIUM, ("harassment",)),
    # Questions and praise.
    Case("How do I book an appointment?", (Q,), Severity.LOW, lang="en"),
    Case("Is this available in blue", (Q,), Severity.LOW),
    Case("Où est le magasin ?", (Q,), Severity.LOW, lang="fr"),
    Case("Merci beaucoup, super vidéo !", (P,), Severity.NONE, lang="fr"),
    Case("Thanks, this helped a lot", (P,), Severity.NONE, lang="en"),
    # Abuse cancels praise; several labels can hold at once.
    Case("Thank you, you idiot", (A,), Severity.MEDIUM, ("insult",)),
    # A hateful rhetorical question is not a question to answer.
    Case("why are you so stupid?", (A,), Severity.MEDIUM, ("insult",)),
    Case("pourquoi vous êtes aussi débiles ?", (A,), Severity.MEDIUM, ("insult",), lang="fr"),
    # Context: an errand, laughter, a negated praise word.
    Case("je vais en finir avec ce dossier", (), Severity.NONE, lang="fr"),
    Case("je suis mort de rire", (), Severity.NONE),
    Case("t'es mort de rire", (), Severity.NONE),
    Case("I want to die laughing", (), Severity.NONE),
    Case("you're dead right", (), Severity.NONE),
    Case("merci pour rien", (), Severity.NONE),
    Case("pas génial", (), Severity.NONE),
    # French crisis and violence phrasing.
    Case("je veux en finir avec la vie", (S,), Severity.CRITICAL, ("suicide",)),
    Case("je vais me foutre en l'air", (S,), Severity.CRITICAL, ("suicide",)),
    Case("Je me scarifie", (S,), Severity.CRITICAL, ("self_harm_intent",)),
    Case("mon mari me frappe", (S,), Severity.HIGH, ("domestic_violence",)),
    Case("je veux pas mourir", (S,), Severity.MEDIUM, ("suicide",), unsure=(S,)),
    Case("I don't know, I want to die", (S,), Severity.CRITICAL, ("suicide",)),
    Case("send nudes", (A,), Severity.MEDIUM, ("sexual",)),
    Case("RT @someone you are an idiot http://t.co/x", (A,), Severity.MEDIUM, ("insult",)),
    Case(
        "I want to kill myself, you idiots",
        (S, A),
        Severity.CRITICAL,
        ("suicide", "insult"),
    ),
    Case("", (), Severity.NONE, lang="und"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.text or "<empty>" for c in CASES])
def test_classify(case: Case) -> None:
    verdict = classify(case.text)

    assert verdict.labels == case.labels
    assert verdict.severity is case.severity
    assert verdict.categories == case.categories
    assert verdict.unsure == case.unsure
    if case.lang is not None:
        assert verdict.lang == case.lang


@pytest.mark.parametrize("case", CASES, ids=[c.text or "<empty>" for c in CASES])
def test_every_verdict_is_versioned_and_scored_within_bounds(case: Case) -> None:
    verdict = classify(case.text)

    assert verdict.model_version == MODEL_VERSION != ""
    assert set(verdict.scores) == set(Label)
    assert all(0.0 <= score <= 1.0 for score in verdict.scores.values())
    # A label is given exactly when its score is positive.
    assert {label for label, score in verdict.scores.items() if score > 0} == set(verdict.labels)
    assert verdict.rationale


def test_an_unsure_label_scores_lower_than_a_certain_one() -> None:
    certain = classify("I want to die")
    negated = classify("I don't want to die")

    assert negated.scores[S] < certain.scores[S]
    assert certain.unsure == () and negated.unsure == (S,)
    assert "(negated)" in negated.rationale and "(negated)" not in certain.rationale


def test_the_question_score_is_higher_with_a_question_mark() -> None:
    assert classify("how do I book").scores[Q] < classify("how do I book?").scores[Q]


def test_the_language_hint_only_breaks_ties() -> None:
    assert classify("ok", lang_hint="fr-FR").lang == "fr"
    assert classify("ok").lang == "und"
    assert classify("Thanks, this helped a lot", lang_hint="fr").lang == "en"


@pytest.mark.parametrize(
    "cue", SENSITIVE_CUES + ABUSIVE_CUES, ids=lambda c: f"{c.category}:{c.pattern.pattern}"
)
def test_every_cue_is_well_formed(cue: Cue) -> None:
    assert 0.0 < cue.strength <= 1.0
    assert cue.label is (S if cue in SENSITIVE_CUES else A)
    # Text is lower-cased before matching: an upper-case literal could never match.
    literal = re.sub(r"\\.", "", cue.pattern.pattern)
    assert literal == literal.lower()
    # Intent cues are the crisis ones only.
    assert not cue.intent or cue.label is S


def test_a_negated_french_crisis_sentence_is_still_flagged_unsure() -> None:
    verdict = classify("je ne veux pas mourir")

    assert verdict.labels == (S,)
    assert verdict.unsure == (S,)


def test_no_longer_wanting_to_live_is_critical_in_french() -> None:
    verdict = classify("je ne veux plus vivre")

    assert verdict.labels == (S,)
    assert verdict.severity is Severity.CRITICAL
