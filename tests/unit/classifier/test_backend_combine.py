"""The published verdict of a remote backend: its scored labels, local for the rest, and
the local ``sensitive`` as a floor that a remote scorer can raise but never lower."""

from __future__ import annotations

import pytest

from services.classifier.backends.combine import combine, floor_applies
from shared.events import Classification, Label, Severity

S, A, Q, P = Label.SENSITIVE, Label.ABUSIVE, Label.QUESTION, Label.PRAISE
MODERATION = frozenset({S, A})


def verdict(
    *labels: Label,
    categories: tuple[str, ...] = (),
    severity: Severity = Severity.NONE,
    unsure: tuple[Label, ...] = (),
    scores: dict[Label, float] | None = None,
    lang: str = "und",
    version: str = "remote-1",
) -> Classification:
    base = dict.fromkeys(Label, 0.0)
    base.update(dict.fromkeys(labels, 0.9))
    base.update(scores or {})
    return Classification(
        labels=labels,
        categories=categories,
        severity=severity,
        scores=base,
        unsure=unsure,
        lang=lang,
        rationale=f"{version} said so",
        model_version=version,
    )


def local(*labels: Label, **kwargs: object) -> Classification:
    return verdict(*labels, version="lexicon-9", lang="fr", **kwargs)  # type: ignore[arg-type]


def test_a_remote_silence_never_removes_the_local_crisis_verdict() -> None:
    crisis = local(S, categories=("suicide",), severity=Severity.CRITICAL)

    out = combine(verdict(), crisis, scored=MODERATION)

    assert out.labels == (S,)
    assert out.severity is Severity.CRITICAL
    assert out.categories == ("suicide",)
    assert out.unsure == ()
    assert out.scores[S] == 0.9
    assert floor_applies(verdict(), crisis)


def test_a_remote_scorer_may_add_sensitive_the_local_one_missed() -> None:
    remote = verdict(S, categories=("self_harm_intent",), severity=Severity.CRITICAL)

    out = combine(remote, local(), scored=MODERATION)

    assert out.labels == (S,)
    assert out.severity is Severity.CRITICAL
    assert out.categories == ("self_harm_intent",)
    assert not floor_applies(remote, local())


def test_scored_labels_come_from_the_remote_and_the_others_from_local() -> None:
    remote = verdict(A, categories=("harassment",), severity=Severity.MEDIUM)
    mine = local(Q, P, severity=Severity.LOW)

    out = combine(remote, mine, scored=MODERATION)

    assert out.labels == (A, Q, P)
    assert out.severity is Severity.MEDIUM


def test_a_local_abusive_verdict_is_overruled_by_a_scorer_that_scores_abuse() -> None:
    out = combine(verdict(), local(A, categories=("insult",)), scored=MODERATION)

    assert out.labels == ()
    assert out.categories == ()
    assert out.scores[A] == 0.0


def test_local_categories_follow_only_the_labels_local_contributes() -> None:
    mine = local(S, A, categories=("suicide", "insult"), severity=Severity.CRITICAL)

    out = combine(verdict(), mine, scored=MODERATION)

    assert out.labels == (S,)
    assert out.categories == ("suicide",)


@pytest.mark.parametrize(
    ("remote", "mine", "unsure"),
    [
        # Negated crisis cue locally, nothing remote: sensitive stays, for a human to check.
        (verdict(), local(S, unsure=(S,)), (S,)),
        # The remote scorer is sure: the comment is sensitive for certain.
        (verdict(S), local(S, unsure=(S,)), ()),
        # The local lexicon is sure, the remote unsure: certain.
        (verdict(S, unsure=(S,)), local(S), ()),
    ],
)
def test_sensitive_is_unsure_only_when_neither_side_is_sure(
    remote: Classification, mine: Classification, unsure: tuple[Label, ...]
) -> None:
    assert combine(remote, mine, scored=MODERATION).unsure == unsure


def test_the_language_and_version_say_where_the_verdict_comes_from() -> None:
    out = combine(verdict(), local(Q), scored=MODERATION)

    assert out.lang == "fr"
    assert out.model_version == "remote-1+lexicon-9"
    assert "lexicon-9" in out.rationale
    assert combine(verdict(lang="en"), local(), scored=MODERATION).lang == "en"


def test_a_scorer_of_every_label_keeps_only_the_sensitive_floor() -> None:
    out = combine(verdict(Q), local(S, P, severity=Severity.HIGH), scored=frozenset(Label))

    assert out.labels == (S, Q)
    assert out.severity is Severity.HIGH
