"""The trained fast path with the lexicon OR'd in: one ``Classification`` per comment.

Per label: the linear head's calibrated probability ``p``, the head's threshold and unsure
band from the manifest, and the lexicon's scan of the same normalised text.

- sensitive: given when ``p`` reaches the threshold or any crisis cue fires (even negated),
  so the model can never hide a crisis; unsure when ``p`` is in the band and no certain
  cue fired, or when the only cues are negated.
- abusive: given when ``p`` reaches the threshold or a certain cue fires.
- question: the model's, but not for abusive comments (a hateful rhetorical question is
  not one to answer), nor for a statement of not knowing that asks nothing ("idk what it
  is either").
- praise: the model's or the French/English praise words, never for abusive comments; not
  the model's for plain agreement or good wishes ("I agree", "good luck").

``unsure`` lists the labels a human should check, given or not.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.classifier import language, rules
from services.classifier.model.artefact import Artefact, Band
from services.classifier.model.features import WORDS, word_bucket
from shared.events import Classification, Label, Severity

QUESTION_MARK_END = rules.QUESTION_MARK_END
LABELS = tuple(Label)  # iterating an Enum class is slow; this runs for every comment
_WORD_CACHE_SIZE = 1 << 16  # words whose head weights are kept for rationales

# Category heads: "<label>.<category>", reported when the label is given and p >= 0.5.
CATEGORY_SEPARATOR = "."


def _sigmoid(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))).astype(np.float32)


def calibrated(artefact: Artefact, raw: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Platt scaling per head: ``sigmoid(a * raw + b)``."""
    heads = artefact.manifest.heads
    a = np.array([artefact.manifest.calibration[h][0] for h in heads], dtype=np.float32)
    b = np.array([artefact.manifest.calibration[h][1] for h in heads], dtype=np.float32)
    return _sigmoid(raw * a + b)


class Decider:
    """Turns one comment's probabilities and lexicon scan into a ``Classification``."""

    def __init__(self, artefact: Artefact) -> None:
        self._artefact = artefact
        self._heads = {name: i for i, name in enumerate(artefact.manifest.heads)}
        self._bands: dict[Label, Band] = {
            label: artefact.manifest.bands[label.value] for label in Label
        }
        self.version = artefact.manifest.version
        # word -> its weight in each label's head (LABELS order), memoised for rationales.
        self._word_weights: dict[str, tuple[float, ...]] = {}
        self._label_weights = np.ascontiguousarray(
            artefact.weights[:, [self._heads[label.value] for label in LABELS]]
        )
        self._features = artefact.manifest.features
        # Per comment, only indices: the heads of the four labels, and the category heads
        # ("<label>.<category>") with their label, in the manifest's order.
        self._label_heads = tuple((label, self._heads[label.value]) for label in LABELS)
        self._category_heads = tuple(
            (index, Label(label_name), category)
            for name, index in self._heads.items()
            for label_name, _, category in (name.partition(CATEGORY_SEPARATOR),)
            if category
        )

    def _words_and_weights(self, text: str) -> list[tuple[str, tuple[float, ...]]]:
        """The text's distinct words, each with its weight in every label's head."""
        cache = self._word_weights
        out = []
        for word in dict.fromkeys(WORDS.findall(text)):
            weights = cache.get(word)
            if weights is None:
                if len(cache) >= _WORD_CACHE_SIZE:
                    cache.clear()
                row = self._label_weights[word_bucket(word, self._features)]
                weights = cache[word] = tuple(row.tolist())
            out.append((word, weights))
        return out

    @staticmethod
    def _top_words(
        words: list[tuple[str, tuple[float, ...]]], position: int, count: int = 3
    ) -> list[str]:
        """The words of the text that pushed one label's head up the most (for the rationale).

        ``position`` is the label's place in ``LABELS``; ties go to the later word in
        alphabetical order, as a sort of ``(weight, word)`` pairs gives.
        """
        ranked = sorted(((weights[position], word) for word, weights in words), reverse=True)
        return [word for weight, word in ranked[:count] if weight > 0]

    def decide(
        self,
        normalised: str,
        lang_hint: str | None,
        probs: npt.NDArray[np.float32],
        scan: rules.Scan,
    ) -> Classification:
        values = probs.tolist()  # Python floats: the float32 values, exactly
        p = {label: values[index] for label, index in self._label_heads}
        labels: set[Label] = set()
        unsure: set[Label] = set()
        scores: dict[Label, float] = {}
        reasons = [hit.reason for hit in scan.hits]
        words: list[tuple[str, tuple[float, ...]]] | None = None
        for position, label in enumerate(LABELS):
            band = self._bands[label]
            certain_cue = bool(scan.certain(label))
            by_model = p[label] >= band.threshold
            in_band = band.low <= p[label] < band.high and not certain_cue
            if label is Label.SENSITIVE:
                given = by_model or bool(scan.fired(label))
                in_band = in_band or (given and not certain_cue and p[label] < band.high)
            elif label is Label.ABUSIVE:
                given = by_model or certain_cue
                in_band = in_band or bool(scan.fired(label)) and not certain_cue
            elif label is Label.QUESTION:
                # A final "?" or an asking form ("pouvez-vous ...") asks something, unless the
                # question insults whoever it addresses ("why are you all so stupid?").
                # "I don't know what it is" names a question without asking it.
                given = (by_model and not scan.unasked or scan.asks) and not scan.rhetorical
                in_band = in_band and not (scan.asks or scan.rhetorical or scan.unasked)
                if by_model and scan.unasked:
                    reasons.append("question:not asked")
                if scan.rhetorical:
                    reasons.append("question:rhetorical")
            else:
                # Agreeing and wishing luck praise no one ("I agree", "good luck").
                given = by_model and not scan.agrees or scan.praise
                in_band = in_band and not (scan.praise or scan.agrees)
                if by_model and scan.agrees:
                    reasons.append("praise:agreement only")
            if given:
                labels.add(label)
            if in_band:
                unsure.add(label)
            scores[label] = (
                max(p[label], scan.score(label))
                if label
                in (
                    Label.SENSITIVE,
                    Label.ABUSIVE,
                )
                else p[label]
            )
            if by_model:
                if words is None:
                    words = self._words_and_weights(normalised)
                top = self._top_words(words, position)
                cue = f" ({', '.join(top)})" if top else ""
                reasons.append(f"{label}:model {p[label]:.2f}{cue}")
        abusive_sure = bool(scan.certain(Label.ABUSIVE)) or (
            Label.ABUSIVE in labels and Label.ABUSIVE not in unsure
        )
        if Label.QUESTION in labels and abusive_sure:
            labels.discard(Label.QUESTION)
            unsure.discard(Label.QUESTION)
            reasons.append("question:rhetorical (abusive)")
        if Label.PRAISE in labels and Label.ABUSIVE in labels:
            labels.discard(Label.PRAISE)
            unsure.discard(Label.PRAISE)
        elif scan.praise and Label.PRAISE in labels:
            scores[Label.PRAISE] = max(scores[Label.PRAISE], self._bands[Label.PRAISE].high)
            reasons.append("praise:positive words")
        categories = list(dict.fromkeys(hit.cue.category for hit in scan.hits))
        for index, owner, category in self._category_heads:
            if owner in labels and values[index] >= 0.5 and category not in categories:
                categories.append(category)
        ordered = tuple(label for label in LABELS if label in labels)
        return Classification(
            labels=ordered,
            categories=tuple(categories),
            severity=_severity(scan, labels, p[Label.SENSITIVE], self._bands[Label.SENSITIVE]),
            scores={label: round(min(max(s, 0.0), 1.0), 4) for label, s in scores.items()},
            unsure=tuple(label for label in LABELS if label in unsure),
            lang=language.detect(normalised, lang_hint),
            rationale="; ".join(dict.fromkeys(reasons)) or "nothing fired",
            model_version=self.version,
        )


def _severity(scan: rules.Scan, labels: set[Label], p_sensitive: float, band: Band) -> Severity:
    certain = bool(scan.certain(Label.SENSITIVE)) or p_sensitive >= band.high
    return rules.severity(scan, labels, sensitive_certain=certain)
