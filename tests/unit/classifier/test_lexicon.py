"""The crisis lexicon on the hand-written sets, and the normalisation it is written for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.classifier.lexicon import ABUSIVE_CUES, SENSITIVE_CUES, Cue, normalize
from services.classifier.literals import alternation_literals, required_literals
from services.classifier.rules import scan
from services.classifier.speech_acts import NOT_PRAISE, PRAISE, praises
from shared.events import Label

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "classifier"


def _rows(name: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


CRISIS = [
    row
    for name in ("fr_crisis.jsonl", "en_crisis.jsonl")
    for row in _rows(name)
    if "sensitive" in row["labels"]
]


@pytest.mark.parametrize("row", CRISIS, ids=lambda r: str(r["text"]))
def test_every_hand_written_crisis_fires_a_certain_cue_of_its_category(
    row: dict[str, Any],
) -> None:
    found = scan(normalize(str(row["text"])))

    certain = found.certain(Label.SENSITIVE)
    assert certain, "no certain sensitive cue"
    assert {hit.cue.category for hit in certain} & set(row["categories"])


@pytest.mark.parametrize(
    "text",
    [
        "je vais en finir avec ce dossier avant midi",
        "Il faut en finir avec les idées reçues",
        "je suis mort de rire devant cette vidéo",
        "Je meurs de faim",
        "j'ai envie de mourir de rire",
        "je vais tuer le temps",
        "mon mari me fait rire",
        "I'd kill for a coffee right now",
        "this traffic is killing me",
        "I'm dying to see the new season",
        "I nearly died laughing",
        "my feet are killing me",
        "The battery died again",
        "you killed it on stage",
    ],
)
def test_figures_of_speech_fire_no_crisis_cue(text: str) -> None:
    assert not scan(normalize(text)).fired(Label.SENSITIVE)


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("je ne vais pas me tuer", True),
        ("je veux pas mourir", True),
        ("I won't kill myself", True),
        ("I don't know, I want to die", False),  # the comma ends the negated clause
        ("je ne veux plus vivre", False),  # "ne ... plus" is the crisis, not a denial
        ("I don't want to live anymore", False),
    ],
)
def test_negation_is_read_within_the_clause(text: str, negated: bool) -> None:
    hits = scan(normalize(text)).fired(Label.SENSITIVE)

    assert hits and all(hit.negated is negated for hit in hits)


def test_every_cue_with_a_context_rule_still_fires_without_it() -> None:
    for cue in SENSITIVE_CUES:
        if cue.unless is not None:
            assert not cue.unless.search(" ce soir")


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("RT @bob: Hello &amp; WELCOME http://t.co/x", "xuser : hello & welcome xurl"),
        ("I’m   so\n\nhappyyyyyy [NAME]", "i'm so happyyy xname"),
        ("@user @user ok", "xuser xuser ok"),
    ],
)
def test_normalisation_hides_platform_markup(raw: str, normalised: str) -> None:
    assert normalize(raw) == normalised


SAMPLES = [
    str(row["text"]) for name in sorted(FIXTURES.glob("*.jsonl")) for row in _rows(name.name)
]


@pytest.mark.parametrize("cue", SENSITIVE_CUES + ABUSIVE_CUES, ids=lambda c: c.pattern.pattern)
def test_the_literal_filter_never_hides_a_match(cue: Cue) -> None:
    literals = required_literals(cue.pattern.pattern)

    assert literals, "every cue should be cheap to rule out"
    for text in SAMPLES:
        normalised = normalize(text)
        if cue.pattern.search(normalised):
            assert any(literal in normalised for literal in literals)


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"\bidiots?\b", ("idiot",)),
        (r"\bdon'?t want to (live|die)\b", ("t want to ",)),
        (r"\b(anorexi|bulimi)", ("anorexi", "bulimi")),
        (r"\b(kill|killing) my ?self\b", ("kill", "killing")),
        (r"\bpro[- ]?ana\b", ("pro",)),
        (r"\bend(ing)? (my|my own) life\b", (" life",)),
        (r"a|b", ()),
        (r"\bje fais un malaise\b", ("je fais un malaise",)),
    ],
)
def test_required_literals(pattern: str, literals: tuple[str, ...]) -> None:
    assert required_literals(pattern) == literals


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"\b(great|thanks?|well done)\b", ("great", "thank", "well done")),
        (r"\b(bravo|(très|super) top|love (it|this))\b", ("bravo", "très", "super", "love ")),
        (r"\b(ab)|(cd)\b", ()),  # not one word list: two alternatives at the top level
        (r"\b(great|.*)\b", ()),  # an alternative without a literal
        (r"\bgreat\b", ()),
        (r"\b(x\)|y)\b", ("x", "y")),
    ],
)
def test_alternation_literals(pattern: str, literals: tuple[str, ...]) -> None:
    assert alternation_literals(pattern) == literals


def test_the_praise_filter_never_hides_a_praise_word() -> None:
    literals = alternation_literals(PRAISE.pattern)
    found = 0
    for text in SAMPLES:
        normalised = normalize(text)
        if PRAISE.search(normalised):
            found += 1
            assert any(literal in normalised for literal in literals), text
            assert praises(normalised) == (not NOT_PRAISE.search(normalised))
        else:
            assert not praises(normalised)
    assert found > 20  # the fixtures hold praise in both languages


@pytest.mark.parametrize("space", ["\t", "\n", "\u00a0", "\u2028", "\u3000", "\x1c", "  \r\n "])
def test_every_unicode_space_becomes_one_space(space: str) -> None:
    assert normalize(f" Merci{space}beaucoup{space}") == "merci beaucoup"
