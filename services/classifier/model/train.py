"""Training: one logistic head per label (and a few category heads) on hashed n-grams.

Each head is trained only on the items that are annotated for it (``label_scope``), except
where the data has no negatives of its own: the sensitive sources are all positive, so every
item outside the sensitive scope counts as a negative for it (with the weak file's long-form
negatives). Weak positives count at ``WEAK_WEIGHT``. Praise positives that rest on
GoEmotions' ``approval`` alone (mostly plain agreement: "Glad we agree.") count at
``APPROVAL_ONLY_WEIGHT``: the labels stay as the data has them, the head just leans less on
the loosest part of the mapping. The validation split (a hash of the normalised text) is
never trained on; Platt scaling, thresholds and unsure bands come from a separate
calibration fold of the training part, on the data's labels. Deterministic: the solver is
seeded and the data is read in file order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from services.classifier.lexicon import normalize
from services.classifier.model import artefact as artefacts
from services.classifier.model.artefact import Artefact, Band, Manifest
from services.classifier.model.dataset import Item, is_calibration, is_validation, read_jsonl
from services.classifier.model.features import FeatureConfig, featurize
from shared.events import Label

S, A, Q, P = Label.SENSITIVE, Label.ABUSIVE, Label.QUESTION, Label.PRAISE
DATA_FILES = ("train.jsonl", "train_weak.jsonl")
WEAK_FILES = ("train_weak.jsonl",)
WEAK_WEIGHT = 0.3
UNSCOPED_WEIGHT = 0.5
APPROVAL_ONLY_WEIGHT = 0.3
# GoEmotions emotions that make an item praise (the data README's mapping).
PRAISE_EMOTIONS = frozenset({"admiration", "gratitude", "love", "approval"})
SEED = 13
SENSITIVE_RECALL = 0.96  # the threshold is the highest with this recall on calibration
# The unsure band of a head runs from the threshold that keeps LOW_RECALL of the positives
# to the one that reaches HIGH_PRECISION: wide for sensitive (a human looks at more), narrow
# for the others (a human is not asked about every borderline compliment).
LOW_RECALL = {S.value: 0.995, A.value: 0.95, "default": 0.9}
HIGH_PRECISION = {S.value: 0.95, "default": 0.9}

Target = Callable[[Item], tuple[bool, float] | None]  # (positive, weight) or not used


def _label_target(label: Label) -> Target:
    def target(item: Item) -> tuple[bool, float] | None:
        truth = item.truth(label)
        if truth is None:
            return None
        return truth, (WEAK_WEIGHT if item.weak and truth else 1.0)

    return target


def _sensitive(item: Item) -> tuple[bool, float] | None:
    truth = item.truth(S)
    if truth is None:
        return False, 1.0
    return truth, (WEAK_WEIGHT if item.weak and truth else 1.0)


def _abusive(item: Item) -> tuple[bool, float] | None:
    truth = item.truth(A)
    if truth is not None:
        return truth, 1.0
    # Outside the abusive sources the data was filtered to calm text (GoEmotions items carry
    # no anger, annoyance, disgust or disapproval; treebank sentences; support posts): the
    # head would otherwise learn that any non-tweet is abusive.
    return None if item.weak else (False, UNSCOPED_WEIGHT)


def praise_weight(item: Item) -> float:
    """The weight of an in-scope praise item: lower when only ``approval`` made it praise."""
    if P in item.labels and PRAISE_EMOTIONS.intersection(item.categories) == {"approval"}:
        return APPROVAL_ONLY_WEIGHT
    return 1.0


def _praise(item: Item) -> tuple[bool, float] | None:
    if item.weak:
        return None  # French positive-sentiment news tweets: not praise addressed to anyone
    if P not in item.scope:
        return (False, 0.5) if item.truth(A) else None
    return P in item.labels, praise_weight(item)


def _category(label: Label, category: str) -> Target:
    def target(item: Item) -> tuple[bool, float] | None:
        if not item.truth(label):
            return None
        return category in item.categories, (WEAK_WEIGHT if item.weak else 1.0)

    return target


HEADS: dict[str, Target] = {
    S.value: _sensitive,
    A.value: _abusive,
    Q.value: _label_target(Q),
    P.value: _praise,
    "abusive.hate": _category(A, "hate"),
    "sensitive.suicide": _category(S, "suicidal_ideation"),
    "sensitive.domestic_violence": _category(S, "domestic_violence"),
}
C_BY_HEAD = {S.value: 1.0, A.value: 2.0, Q.value: 4.0, P.value: 2.0}


@dataclass(frozen=True, slots=True)
class Split:
    train: list[Item]
    calibration: list[Item]
    validation: list[Item]


@dataclass(frozen=True, slots=True)
class Trained:
    artefact: Artefact
    split: Split


def read_data(data_dir: Path) -> tuple[list[Item], dict[str, str]]:
    """Items of the data files present in ``data_dir`` and their SHA-256."""
    items: list[Item] = []
    checksums: dict[str, str] = {}
    for name in DATA_FILES:
        path = data_dir / name
        if path.is_file():
            checksums[name] = hashlib.sha256(path.read_bytes()).hexdigest()
            items.extend(read_jsonl(path, weak=name in WEAK_FILES))
    if not checksums:
        raise FileNotFoundError(f"{data_dir}: none of {', '.join(DATA_FILES)}")
    return items, checksums


def split(items: Sequence[Item], *, validation_percent: int = 10) -> Split:
    train: list[Item] = []
    calibration: list[Item] = []
    validation: list[Item] = []
    for item in items:
        if is_validation(item.text, percent=validation_percent):
            validation.append(item)
        elif is_calibration(item.text):
            calibration.append(item)
        else:
            train.append(item)
    return Split(train, calibration, validation)


def matrix(items: Sequence[Item], config: FeatureConfig, chunk: int = 4096) -> sparse.csr_matrix:
    blocks = []
    for start in range(0, len(items), chunk):
        texts = [normalize(item.text) for item in items[start : start + chunk]]
        f = featurize(texts, config)
        blocks.append(
            sparse.csr_matrix(
                (f.values, (f.rows, f.cols)), shape=(f.n_rows, config.buckets), dtype=np.float32
            )
        )
    return sparse.vstack(blocks, format="csr") if blocks else sparse.csr_matrix((0, config.buckets))


def _targets(
    items: Sequence[Item], target: Target
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    index, y, w = [], [], []
    for i, item in enumerate(items):
        t = target(item)
        if t is not None:
            index.append(i)
            y.append(int(t[0]))
            w.append(t[1])
    return np.asarray(index, np.int64), np.asarray(y, np.int64), np.asarray(w, np.float64)


def _threshold_at_recall(
    probs: npt.NDArray[np.float64], y: npt.NDArray[np.int64], r: float
) -> float:
    positives = np.sort(probs[y == 1])
    if len(positives) == 0:
        return 0.5
    return float(positives[int(np.floor((1.0 - r) * len(positives)))])


def _best_f1_threshold(probs: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    order = np.argsort(-probs, kind="stable")
    tp = np.cumsum(y[order])
    precision = tp / np.arange(1, len(y) + 1)
    recall = tp / max(int(y.sum()), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-9)
    return float(probs[order][int(np.argmax(f1))])


def _threshold_at_precision(
    probs: npt.NDArray[np.float64], y: npt.NDArray[np.int64], p: float
) -> float:
    order = np.argsort(-probs, kind="stable")
    precision = np.cumsum(y[order]) / np.arange(1, len(y) + 1)
    ok = np.nonzero(precision >= p)[0]
    return float(probs[order][ok[-1]]) if len(ok) else 1.0


def _fit(
    x: sparse.csr_matrix, y: npt.NDArray[np.int64], w: npt.NDArray[np.float64], c: float
) -> tuple[npt.NDArray[np.float32], float]:
    """A logistic head; with one class only (tiny data) a constant at that class's prior."""
    if len(np.unique(y)) < 2:
        prior = (y.sum() + 0.5) / (len(y) + 1.0)
        return np.zeros(x.shape[1], np.float32), float(np.log(prior / (1.0 - prior)))
    head = LogisticRegression(
        C=c, solver="liblinear", class_weight="balanced", random_state=SEED, max_iter=200
    )
    head.fit(x, y, sample_weight=w)
    return head.coef_[0].astype(np.float32), float(head.intercept_[0])


def _platt(raw: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> tuple[float, float]:
    """Platt scaling ``sigmoid(a * raw + b)``; the identity when a class is missing."""
    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    platt = LogisticRegression(C=1e4, random_state=SEED).fit(raw.reshape(-1, 1), y)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def _band(name: str, probs: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> Band:
    if y.sum() == 0 or y.sum() == len(y):
        return Band(threshold=0.5, low=0.5, high=0.5)
    if name == S.value:
        threshold = _threshold_at_recall(probs, y, SENSITIVE_RECALL)
    else:
        threshold = _best_f1_threshold(probs, y)
    low_recall = LOW_RECALL.get(name, LOW_RECALL["default"])
    high_precision = HIGH_PRECISION.get(name, HIGH_PRECISION["default"])
    low = min(_threshold_at_recall(probs, y, low_recall), threshold)
    high = max(_threshold_at_precision(probs, y, high_precision), threshold)
    return Band(threshold=round(threshold, 4), low=round(low, 4), high=round(high, 4))


def train(
    data_dir: Path,
    *,
    config: FeatureConfig | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Trained:
    config = config or FeatureConfig()
    items, checksums = read_data(data_dir)
    parts = split(items)
    progress(
        f"{len(parts.train)} train, {len(parts.calibration)} calibration, "
        f"{len(parts.validation)} validation items"
    )
    x_train, x_cal = matrix(parts.train, config), matrix(parts.calibration, config)
    weights = np.zeros((config.buckets, len(HEADS)), dtype=np.float32)
    bias = np.zeros(len(HEADS), dtype=np.float32)
    calibration: dict[str, tuple[float, float]] = {}
    bands: dict[str, Band] = {}
    for h, (name, target) in enumerate(HEADS.items()):
        index, y, w = _targets(parts.train, target)
        progress(f"head {name}: {len(index)} items, {int(y.sum())} positive")
        weights[:, h], bias[h] = _fit(x_train[index], y, w, C_BY_HEAD.get(name, 1.0))
        # Calibrate on what will ship: the float16-rounded weights.
        c_index, c_y, _ = _targets(parts.calibration, target)
        raw = x_cal[c_index] @ weights[:, h].astype(np.float16).astype(np.float32) + bias[h]
        a, b = _platt(raw, c_y)
        calibration[name] = (round(a, 6), round(b, 6))
        probs = 1.0 / (1.0 + np.exp(-np.clip(a * raw + b, -30.0, 30.0)))
        if "." not in name:
            bands[name] = _band(name, probs.astype(np.float64), c_y)
    weights16 = weights.astype(np.float16)
    manifest = Manifest(
        version="",
        features=config,
        heads=tuple(HEADS),
        calibration=calibration,
        bands=bands,
        data=checksums,
        training={
            "seed": SEED,
            "trained_on": date.today().isoformat(),
            "items": {
                "train": len(parts.train),
                "calibration": len(parts.calibration),
                "validation": len(parts.validation),
            },
            "weak_weight": WEAK_WEIGHT,
            "unscoped_weight": UNSCOPED_WEIGHT,
            "approval_only_weight": APPROVAL_ONLY_WEIGHT,
            "sensitive_recall": SENSITIVE_RECALL,
            "c": C_BY_HEAD,
        },
    )
    manifest = artefacts.versioned(manifest, weights16, bias)
    artefact = Artefact(manifest=manifest, weights=weights16.astype(np.float32), bias=bias)
    return Trained(artefact=artefact, split=parts)


def save(trained: Trained, out_dir: Path) -> None:
    manifest = trained.artefact.manifest
    artefacts.save(
        out_dir, manifest, trained.artefact.weights.astype(np.float16), trained.artefact.bias
    )
