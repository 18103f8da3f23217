"""The deeper model, asked only about the labels a comment is unsure of.

Sentence vectors from word vectors distilled from a multilingual sentence encoder
(``multilingual-e5-small``: each word of the training vocabulary embedded on its own at
training time, see ``deep_train``), averaged with smooth inverse-frequency weights, then one
logistic head per label. numpy only at run time: no encoder, no extra package.

Its probability is stacked with the fast path's (``sigmoid(a·logit(p_fast) + b·logit(p_deep)
+ c)``, fitted on the unsure calibration items): the deep model corrects the fast path where
it is unsure rather than replacing it.

It decides only ``question`` and ``praise``, and only for a comment whose fast-path verdict
lists that label as unsure; everything else in the verdict stays as it was. It never decides
``sensitive``: the crisis lexicon and the fast path stay the only judges there, so a deep
model can never clear a crisis.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.classifier.model.artefact import ArtefactError
from services.classifier.model.features import WORDS
from shared.events import Classification, Label, Severity

DEEP_FILE = "deep.npz"
DEEP_LABELS: frozenset[Label] = frozenset({Label.QUESTION, Label.PRAISE})
_ORDER = tuple(Label)  # iterating an Enum class is slow; this runs for every refined comment
MAX_CHARS = 1000

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class DeepModel:
    """Word vectors, their weights, and one logistic head per label (on the sentence vector)."""

    vocabulary: tuple[str, ...]
    vectors: Floats  # (words, dim), rows L2-normalised
    word_weights: Floats  # (words,) smooth inverse frequency
    labels: tuple[Label, ...]
    head_weights: Floats  # (dim, labels)
    head_bias: Floats  # (labels,)
    thresholds: Floats  # (labels,), on the stacked probability
    stack: Floats  # (labels, 3): a, b, c of the stacking
    encoder: str = "multilingual-e5-small"
    fast_version: str = ""  # the fast path whose unsure band it was fitted on
    index: dict[str, int] = field(init=False, repr=False, compare=False)  # word -> row

    def __post_init__(self) -> None:
        outside = set(self.labels) - DEEP_LABELS
        if outside:
            names = ", ".join(sorted(label.value for label in outside))
            raise ArtefactError(f"the deep model may not decide {names}")
        object.__setattr__(self, "index", {word: i for i, word in enumerate(self.vocabulary)})

    @property
    def version(self) -> str:
        digest = hashlib.sha256()
        # The vectors ship as float16: the version is that of what ships.
        digest.update(np.ascontiguousarray(self.vectors, dtype="<f2").tobytes())
        for array in (self.word_weights, self.head_weights, self.head_bias, self.stack):
            digest.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
        digest.update(np.ascontiguousarray(self.thresholds, dtype="<f4").tobytes())
        digest.update("\x00".join(self.vocabulary).encode())
        digest.update(",".join(label.value for label in self.labels).encode())
        digest.update(f"{self.encoder}\x00{self.fast_version}".encode())
        return f"deep-{digest.hexdigest()[:10]}"

    def sentence_vectors(self, normalised: Sequence[str]) -> Floats:
        """One L2-normalised vector per text; zero for a text with no known word."""
        index = self.index
        ids: list[int] = []
        rows: list[int] = []
        for row, text in enumerate(normalised):
            found = [i for w in WORDS.findall(text[:MAX_CHARS]) if (i := index.get(w)) is not None]
            ids.extend(found)
            rows.extend([row] * len(found))
        out = np.zeros((len(normalised), self.vectors.shape[1]), dtype=np.float32)
        if ids:
            # One gather and one sum per row for the whole batch (rows come in order).
            row_of = np.asarray(rows)
            starts = np.flatnonzero(np.r_[True, row_of[1:] != row_of[:-1]])
            weighted = self.vectors[ids] * self.word_weights[ids, None]
            out[row_of[starts]] = np.add.reduceat(weighted, starts, axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def deep_probabilities(self, normalised: Sequence[str]) -> Floats:
        """``(texts, labels)`` probabilities of the heads alone, in ``labels`` order."""
        return _sigmoid(self.sentence_vectors(normalised) @ self.head_weights + self.head_bias)

    def probabilities(self, normalised: Sequence[str], fast: Floats) -> Floats:
        """``(texts, labels)`` stacked probabilities; ``fast`` is the fast path's, same shape."""
        deep = self.deep_probabilities(normalised)
        a, b, c = self.stack[:, 0], self.stack[:, 1], self.stack[:, 2]
        return _sigmoid(a * logit(fast) + b * logit(deep) + c)


def _sigmoid(x: Floats) -> Floats:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))).astype(np.float32)


def logit(p: Floats) -> Floats:
    clipped = np.clip(p, 1e-4, 1.0 - 1e-4)
    return np.log(clipped / (1.0 - clipped)).astype(np.float32)


def asked(verdict: Classification, model_labels: Sequence[Label]) -> tuple[Label, ...]:
    """The labels of ``verdict`` the deep model is asked about: unsure, and its own."""
    return tuple(label for label in model_labels if label in verdict.unsure)


def refine(
    verdict: Classification,
    deep: Mapping[Label, float],
    thresholds: Mapping[Label, float],
    *,
    version: str,
) -> Classification:
    """``verdict`` with each unsure label of ``deep`` decided by the deep probability.

    Pure. ``sensitive`` and labels the verdict is sure of are left alone; a label the deep
    model decides is no longer unsure. Questions and praise are never given to an abusive
    comment (the fast path's rule).
    """
    labels = set(verdict.labels)
    unsure = set(verdict.unsure)
    scores = dict(verdict.scores)
    reasons = [verdict.rationale] if verdict.rationale else []
    for label, p in deep.items():
        if label not in DEEP_LABELS or label not in unsure:
            continue
        unsure.discard(label)
        scores[label] = round(min(max(p, 0.0), 1.0), 4)
        if p >= thresholds[label] and Label.ABUSIVE not in labels:
            labels.add(label)
            reasons.append(f"{label}:deep {p:.2f}")
        else:
            labels.discard(label)
    severity = verdict.severity
    if severity in (Severity.NONE, Severity.LOW):
        # Only a question moves these two: low for a question, none otherwise.
        severity = Severity.LOW if Label.QUESTION in labels else Severity.NONE
    order = _ORDER
    return verdict.model_copy(
        update={
            "labels": tuple(label for label in order if label in labels),
            "unsure": tuple(label for label in order if label in unsure),
            "scores": scores,
            "severity": severity,
            "rationale": "; ".join(reasons) or verdict.rationale,
            "model_version": version,
        }
    )


def refine_batch(
    model: DeepModel,
    normalised: Sequence[str],
    verdicts: list[Classification],
    *,
    version: str,
) -> list[Classification]:
    """Refine the verdicts that are unsure of a deep label; the others are returned as is.

    Only those comments are embedded: the deep model's cost grows with the unsure share.
    """
    mine = frozenset(model.labels)
    rows = [i for i, v in enumerate(verdicts) if v.unsure and not mine.isdisjoint(v.unsure)]
    if not rows:
        return verdicts
    fast = np.asarray(
        [[verdicts[i].scores.get(label, 0.0) for label in model.labels] for i in rows],
        dtype=np.float32,
    )
    probs = model.probabilities([normalised[i] for i in rows], fast)
    thresholds = dict(zip(model.labels, model.thresholds.tolist(), strict=True))
    out = list(verdicts)
    for row, p in zip(rows, probs, strict=True):
        deep = dict(zip(model.labels, p.tolist(), strict=True))
        out[row] = refine(verdicts[row], deep, thresholds, version=version)
    return out


def save(directory: Path, model: DeepModel) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "version": model.version,
        "encoder": model.encoder,
        "fast_version": model.fast_version,
        "labels": [label.value for label in model.labels],
        "vocabulary": list(model.vocabulary),
    }
    np.savez_compressed(
        directory / DEEP_FILE,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        vectors=model.vectors.astype(np.float16),
        word_weights=model.word_weights.astype(np.float32),
        head_weights=model.head_weights.astype(np.float32),
        head_bias=model.head_bias.astype(np.float32),
        thresholds=model.thresholds.astype(np.float32),
        stack=model.stack.astype(np.float32),
    )


def load(directory: Path) -> DeepModel:
    """The deep model in ``directory``; ``ArtefactError`` if missing, corrupt or tampered."""
    path = directory / DEEP_FILE
    if not path.is_file():
        raise ArtefactError(f"{path}: missing (train it with `vigie classifier train`)")
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(stored["meta"].tobytes().decode())
            model = DeepModel(
                vocabulary=tuple(meta["vocabulary"]),
                vectors=stored["vectors"].astype(np.float32),
                word_weights=stored["word_weights"].astype(np.float32),
                labels=tuple(Label(name) for name in meta["labels"]),
                head_weights=stored["head_weights"].astype(np.float32),
                head_bias=stored["head_bias"].astype(np.float32),
                thresholds=stored["thresholds"].astype(np.float32),
                stack=stored["stack"].astype(np.float32),
                encoder=str(meta["encoder"]),
                fast_version=str(meta["fast_version"]),
            )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ArtefactError(f"{path}: unreadable deep model ({exc})") from None
    n_words, dim = model.vectors.shape
    if (
        len(model.vocabulary) != n_words
        or model.word_weights.shape != (n_words,)
        or model.head_weights.shape != (dim, len(model.labels))
        or model.head_bias.shape != (len(model.labels),)
        or model.thresholds.shape != (len(model.labels),)
        or model.stack.shape != (len(model.labels), 3)
    ):
        raise ArtefactError(f"{path}: arrays of inconsistent shapes")
    if model.version != meta.get("version"):
        raise ArtefactError(f"{path}: weights do not match the version {meta.get('version')}")
    return model
