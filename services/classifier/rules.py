"""The first classifier: cues from ``lexicon`` plus question and praise heuristics.

Pure: text in, ``Classification`` out. It favours recall on crisis comments: a negated
crisis cue still marks the comment sensitive, as ``unsure``, for a human to look at.
"""

from __future__ import annotations

from services.classifier import language
from services.classifier.lexicon import (
    ABUSIVE_CUES,
    NEGATION,
    PRAISE,
    QUESTION_START,
    SENSITIVE_CUES,
    Cue,
)
from shared.events import Classification, Label, Severity

MODEL_VERSION = "lexicon-1"


def _fired(text: str, cues: list[Cue]) -> list[tuple[Cue, bool]]:
    """(cue, negated) for every cue found in ``text``."""
    out = []
    for cue in cues:
        match = cue.pattern.search(text)
        if match:
            negated = bool(NEGATION.search(text[: match.start()]))
            out.append((cue, negated))
    return out


def classify(text: str, *, lang_hint: str | None = None) -> Classification:
    lowered = " ".join(text.lower().replace("’", "'").split())
    lang = language.detect(lowered, lang_hint)
    scores: dict[Label, float] = dict.fromkeys(Label, 0.0)
    labels: list[Label] = []
    categories: list[str] = []
    unsure: list[Label] = []
    reasons: list[str] = []
    severity = Severity.NONE

    def raise_to(level: Severity) -> None:
        nonlocal severity
        if level.rank > severity.rank:
            severity = level

    for label, cues in ((Label.SENSITIVE, SENSITIVE_CUES), (Label.ABUSIVE, ABUSIVE_CUES)):
        fired = _fired(lowered, cues)
        if not fired:
            continue
        labels.append(label)
        certain = [cue for cue, negated in fired if not negated]
        scores[label] = max(cue.strength for cue, _ in fired) if certain else 0.5
        if not certain:
            unsure.append(label)
        for cue, negated in fired:
            if cue.category not in categories:
                categories.append(cue.category)
            reasons.append(f"{label}:{cue.category}{' (negated)' if negated else ''}")
        if label is Label.SENSITIVE:
            intent = any(cue.intent for cue in certain)
            raise_to(Severity.CRITICAL if intent else Severity.HIGH if certain else Severity.MEDIUM)
        else:
            threat = any(cue.category == "threat" for cue in certain)
            raise_to(Severity.HIGH if threat else Severity.MEDIUM)

    stripped = lowered.rstrip()
    if "?" in stripped or QUESTION_START.match(stripped):
        labels.append(Label.QUESTION)
        scores[Label.QUESTION] = 0.9 if stripped.endswith("?") else 0.6
        reasons.append("question:" + ("question mark" if "?" in stripped else "interrogative"))
        raise_to(Severity.LOW)

    if PRAISE.search(lowered) and Label.ABUSIVE not in labels:
        labels.append(Label.PRAISE)
        scores[Label.PRAISE] = 0.8
        reasons.append("praise:positive words")

    return Classification(
        labels=tuple(labels),
        categories=tuple(categories),
        severity=severity,
        scores=scores,
        unsure=tuple(unsure),
        lang=lang,
        rationale="; ".join(reasons) or "no cue fired",
        model_version=MODEL_VERSION,
    )
