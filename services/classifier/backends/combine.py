"""How a remote verdict and the local one make the verdict that is published.

The remote scorer decides the labels it scores; the local classifier decides the others.
``sensitive`` is the exception: the local verdict is a floor. A remote scorer may add
``sensitive`` but never remove it, because a crisis comment must never be missed on the
word of a scorer that did not see what the crisis lexicon saw.
"""

from __future__ import annotations

from services.classifier.lexicon import ABUSIVE_CUES, SENSITIVE_CUES
from shared.events import Classification, Label, Severity

S = Label.SENSITIVE
VERSION_MAX = 64

# The label each local category stands for, so that a category is kept only with its label.
_CATEGORY_LABEL: dict[str, Label] = {cue.category: cue.label for cue in SENSITIVE_CUES}
_CATEGORY_LABEL.update({cue.category: cue.label for cue in ABUSIVE_CUES})


def _certain(verdict: Classification, label: Label) -> bool:
    return label in verdict.labels and label not in verdict.unsure


def _max_severity(*levels: Severity) -> Severity:
    return max(levels, key=lambda level: level.rank)


def combined_version(remote: str, local: str) -> str:
    return f"{remote}+{local}"[:VERSION_MAX]


def floor_applies(remote: Classification, local: Classification) -> bool:
    """True when the local verdict adds ``sensitive`` that the remote one left out."""
    return S in local.labels and S not in remote.labels


def combine(
    remote: Classification, local: Classification, *, scored: frozenset[Label]
) -> Classification:
    """The published verdict: ``remote`` for ``scored`` labels, ``local`` for the rest, and
    ``local``'s ``sensitive`` kept whatever ``remote`` says."""

    def from_local(label: Label) -> bool:
        return label in local.labels and (label not in scored or label is S)

    chosen = [
        label
        for label in Label
        if (label in scored and label in remote.labels) or from_local(label)
    ]
    local_part = {label for label in chosen if from_local(label)}
    scores = {
        label: (
            max(remote.scores.get(label, 0.0), local.scores.get(label, 0.0))
            if label is S
            else remote.scores.get(label, 0.0)
            if label in scored
            else local.scores.get(label, 0.0)
        )
        for label in Label
    }
    unsure = []
    for label in chosen:
        if label is S:
            if not (_certain(remote, S) or _certain(local, S)):
                unsure.append(S)
        elif label in local_part:
            if label in local.unsure:
                unsure.append(label)
        elif label in remote.unsure:
            unsure.append(label)

    categories = list(remote.categories)
    for category in local.categories:
        owner = _CATEGORY_LABEL.get(category)
        keep = owner in local_part if owner is not None else bool(local_part)
        if keep and category not in categories:
            categories.append(category)

    severity = remote.severity
    if S in local_part:
        severity = _max_severity(severity, local.severity)
    elif Label.QUESTION in local_part:
        severity = _max_severity(severity, Severity.LOW)

    rationale = remote.rationale
    if local_part:
        rationale = f"{rationale}; {local.model_version}: {local.rationale}"
    return Classification(
        labels=tuple(chosen),
        categories=tuple(categories),
        severity=severity,
        scores=scores,
        unsure=tuple(unsure),
        lang=local.lang if remote.lang == "und" else remote.lang,
        rationale=rationale,
        model_version=combined_version(remote.model_version, local.model_version),
    )
