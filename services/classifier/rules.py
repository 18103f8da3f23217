"""The lexicon layer: cues from ``lexicon`` plus question and praise heuristics.

Pure: text in, verdict out. ``scan`` gives what fired (the trained model ORs it in, so the
model can never hide a crisis cue); ``classify`` turns a scan into a ``Classification`` on
its own. It favours recall on crisis comments: a negated crisis cue still marks the comment
sensitive, as ``unsure``, for a human to look at.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.classifier import language
from services.classifier.lexicon import (
    ABUSIVE_CUES,
    INNER_NEGATION,
    NEGATION,
    SENSITIVE_CUES,
    Cue,
    normalize,
)
from services.classifier.literals import required_literals
from services.classifier.speech_acts import (
    ASKING,
    QUESTION_START,
    RHETORICAL,
    agrees,
    praises,
    states_not_knowing,
)
from shared.events import Classification, Label, Severity

MODEL_VERSION = "lexicon-2"
QUESTION_MARK_END = "final question mark"
NEGATED_SCORE = 0.5


@dataclass(frozen=True, slots=True)
class Hit:
    cue: Cue
    negated: bool

    @property
    def reason(self) -> str:
        return f"{self.cue.label}:{self.cue.category}{' (negated)' if self.negated else ''}"


@dataclass(frozen=True, slots=True)
class Scan:
    """What the lexicon found in one normalised text."""

    hits: tuple[Hit, ...]
    question: str | None
    praise: bool
    asks: bool = False  # a final "?" or a form that asks for an answer without one
    rhetorical: bool = False  # a question that insults whoever it addresses
    # Says what its author does not know, with no "?" and no asking form: asks nothing.
    unasked: bool = False
    # Agrees or wishes luck, with no praise word: praises no one.
    agrees: bool = False

    def fired(self, label: Label) -> list[Hit]:
        return [hit for hit in self.hits if hit.cue.label is label]

    def certain(self, label: Label) -> list[Hit]:
        return [hit for hit in self.hits if hit.cue.label is label and not hit.negated]

    def score(self, label: Label) -> float:
        """The strongest certain cue, ``NEGATED_SCORE`` if all are negated, else 0."""
        fired = self.fired(label)
        if not fired:
            return 0.0
        certain = [hit.cue.strength for hit in fired if not hit.negated]
        return max(certain) if certain else NEGATED_SCORE

    @property
    def crisis(self) -> bool:
        """A certain first-person self-harm or suicide cue."""
        return any(hit.cue.intent for hit in self.certain(Label.SENSITIVE))


_CUES = SENSITIVE_CUES + ABUSIVE_CUES
# literal -> positions in _CUES of the cues that need it; cues without literals always run.
_BY_LITERAL: dict[str, list[int]] = {}
_ALWAYS: list[int] = []
for _position, _cue in enumerate(_CUES):
    _literals = required_literals(_cue.pattern.pattern)
    for _literal in _literals:
        _BY_LITERAL.setdefault(_literal, []).append(_position)
    if not _literals:
        _ALWAYS.append(_position)


def _hits(text: str, literals: Iterable[str] = _BY_LITERAL) -> list[Hit]:
    """The first match of each cue that can match (by its literals), in lexicon order."""
    positions = set(_ALWAYS)
    for literal in filter(text.__contains__, literals):
        positions.update(_BY_LITERAL[literal])
    out = []
    for position in sorted(positions):
        cue = _CUES[position]
        for match in cue.pattern.finditer(text):
            if cue.unless is not None and cue.unless.search(text[match.end() :]):
                continue
            negated = bool(
                NEGATION.search(text[: match.start()]) or INNER_NEGATION.search(match.group())
            )
            out.append(Hit(cue, negated))
            break
    return out


def ends_with_question_mark(text: str) -> bool:
    """A final "?", maybe followed by emoji, punctuation, spaces or links."""
    end = text.rstrip()
    while end.endswith("xurl"):
        end = end[:-4].rstrip()
    for char in reversed(end):
        if char == "?":
            return True
        if char.isalnum():
            return False
    return False


def scan_many(normalised: Sequence[str]) -> list[Scan]:
    """``scan`` of each text; the literals are first looked for in the whole batch at once."""
    joined = "\x00".join(normalised)
    present = [literal for literal in _BY_LITERAL if literal in joined]
    return [scan(text, present) for text in normalised]


def scan(normalised: str, literals: Iterable[str] = _BY_LITERAL) -> Scan:
    """Cues, question form and praise words of an already-normalised text."""
    hits = _hits(normalised, literals)
    question = None
    asking = bool(ASKING.search(normalised))
    if ends_with_question_mark(normalised):
        question = QUESTION_MARK_END
    elif "?" in normalised:
        question = "question mark"
    elif asking or QUESTION_START.match(normalised):
        question = "interrogative"
    # "t'es con ou quoi" asks without any other mark of a question.
    rhetorical = bool(question or " ou quoi" in normalised) and bool(RHETORICAL.search(normalised))
    praise = praises(normalised)
    return Scan(
        hits=tuple(hits),
        question=question,
        praise=praise,
        asks=(question == QUESTION_MARK_END or asking) and not rhetorical,
        rhetorical=rhetorical,
        unasked=question is None and states_not_knowing(normalised),
        agrees=not praise and agrees(normalised),
    )


def severity(scan: Scan, labels: set[Label], *, sensitive_certain: bool) -> Severity:
    """Critical for a crisis, high for other certain sensitive or a threat, and so on."""
    if Label.SENSITIVE in labels:
        if scan.crisis:
            return Severity.CRITICAL
        return Severity.HIGH if sensitive_certain else Severity.MEDIUM
    if Label.ABUSIVE in labels:
        threat = any(hit.cue.category == "threat" for hit in scan.certain(Label.ABUSIVE))
        return Severity.HIGH if threat else Severity.MEDIUM
    if Label.QUESTION in labels:
        return Severity.LOW
    return Severity.NONE


def classify(text: str, *, lang_hint: str | None = None) -> Classification:
    """The lexicon alone (the trained model's ensemble is ``model.LocalClassifier``)."""
    normalised = normalize(text)
    found = scan(normalised)
    scores: dict[Label, float] = dict.fromkeys(Label, 0.0)
    labels: list[Label] = []
    unsure: list[Label] = []
    reasons = [hit.reason for hit in found.hits]
    categories = list(dict.fromkeys(hit.cue.category for hit in found.hits))
    for label in (Label.SENSITIVE, Label.ABUSIVE):
        scores[label] = found.score(label)
        if scores[label] > 0:
            labels.append(label)
            if not found.certain(label):
                unsure.append(label)
    # A hateful rhetorical question ("why are you so stupid?") is not one to answer.
    if found.rhetorical:
        reasons.append("question:rhetorical")
    elif found.question and not found.certain(Label.ABUSIVE):
        labels.append(Label.QUESTION)
        scores[Label.QUESTION] = 0.9 if normalised.endswith("?") else 0.6
        reasons.append(f"question:{found.question}")
    if found.praise and Label.ABUSIVE not in labels:
        labels.append(Label.PRAISE)
        scores[Label.PRAISE] = 0.8
        reasons.append("praise:positive words")
    return Classification(
        labels=tuple(labels),
        categories=tuple(categories),
        severity=severity(
            found, set(labels), sensitive_certain=bool(found.certain(Label.SENSITIVE))
        ),
        scores=scores,
        unsure=tuple(unsure),
        lang=language.detect(normalised, lang_hint),
        rationale="; ".join(dict.fromkeys(reasons)) or "no cue fired",
        model_version=MODEL_VERSION,
    )
