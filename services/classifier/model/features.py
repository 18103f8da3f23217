"""Hashed character and word n-grams, computed with numpy only.

The hash is our own (a polynomial over code points finished with the 64-bit mix of
MurmurHash3), so bucket numbers are the same on every machine and every Python run: the
trained weights stay valid without ``PYTHONHASHSEED`` or scikit-learn at run time. A whole
batch is hashed at once: the texts are joined with a separator and every n-gram that would
span a separator is dropped.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_PRIME = np.uint64(1_000_003)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT = np.uint64(33)
_SEPARATOR = "\x00"
WORDS = re.compile(r"[\w']+")

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """What the weights were trained on; stored in the artefact's manifest."""

    buckets_log2: int = 18
    char_min: int = 2
    char_max: int = 5
    word_ngrams: int = 2
    max_chars: int = 1000
    word_weight: float = 1.0

    @property
    def buckets(self) -> int:
        return 1 << self.buckets_log2


@dataclass(frozen=True, slots=True)
class Features:
    """A sparse batch: feature ``i`` is ``(rows[i], cols[i], values[i])``; repeats add up."""

    rows: Ints
    cols: Ints
    values: Floats
    n_rows: int


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    h = h ^ (h >> _SHIFT)
    h = h * _MIX1
    h = h ^ (h >> _SHIFT)
    h = h * _MIX2
    return h ^ (h >> _SHIFT)


def _char_ngrams(texts: Sequence[str], config: FeatureConfig) -> tuple[Ints, Ints]:
    joined = _SEPARATOR + _SEPARATOR.join(f" {t[: config.max_chars]} " for t in texts)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    is_sep = codes == 0
    # seps[i] = separators before position i: the document a position belongs to, plus one.
    seps = np.concatenate(([0], np.cumsum(is_sep, dtype=np.int64)))
    mask = np.uint64(config.buckets - 1)
    rows: list[Ints] = []
    cols: list[Ints] = []
    for n in range(config.char_min, config.char_max + 1):
        m = len(codes) - n + 1
        if m <= 0:
            continue
        h = np.full(m, n, dtype=np.uint64)
        for k in range(n):
            h = h * _PRIME + codes[k : k + m]
        keep = seps[n : n + m] - seps[:m] == 0
        rows.append(seps[:m][keep] - 1)
        cols.append((_mix(h[keep]) & mask).astype(np.int64))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols)


_WORD_HASHES: dict[str, int] = {}
_WORD_CACHE_SIZE = 1 << 18


def _word_hash(gram: str) -> int:
    """crc32 of the n-gram, memoised (comment vocabulary repeats a lot)."""
    value = _WORD_HASHES.get(gram)
    if value is None:
        if len(_WORD_HASHES) >= _WORD_CACHE_SIZE:
            _WORD_HASHES.clear()
        value = _WORD_HASHES[gram] = zlib.crc32(gram.encode(), 0x5EED)
    return value


def _word_ngrams(texts: Sequence[str], config: FeatureConfig) -> tuple[Ints, Ints]:
    rows: list[int] = []
    hashes: list[int] = []
    for row, text in enumerate(texts):
        words = WORDS.findall(text[: config.max_chars])
        grams = list(words)
        for n in range(2, config.word_ngrams + 1):
            grams.extend(map(" ".join, zip(*(words[i:] for i in range(n)), strict=False)))
        hashes.extend(map(_word_hash, grams))
        rows.extend([row] * len(grams))
    mask = np.uint64(config.buckets - 1)
    h = _mix(np.asarray(hashes, dtype=np.uint64) + np.uint64(1 << 40))
    return np.asarray(rows, dtype=np.int64), (h & mask).astype(np.int64)


def _scaled(rows: Ints, n_rows: int, weight: float) -> Floats:
    """Each document's n-grams of one kind weigh ``weight / sqrt(count)`` (length-neutral)."""
    counts = np.bincount(rows, minlength=n_rows).astype(np.float32)
    scale = np.float32(weight) / np.sqrt(np.maximum(counts, 1.0))
    return scale[rows].astype(np.float32)


def featurize(texts: Sequence[str], config: FeatureConfig) -> Features:
    """Features of already-normalised texts (see ``normalize``)."""
    n_rows = len(texts)
    char_rows, char_cols = _char_ngrams(texts, config)
    word_rows, word_cols = _word_ngrams(texts, config)
    return Features(
        rows=np.concatenate((char_rows, word_rows)),
        cols=np.concatenate((char_cols, word_cols)),
        values=np.concatenate(
            (_scaled(char_rows, n_rows, 1.0), _scaled(word_rows, n_rows, config.word_weight))
        ),
        n_rows=n_rows,
    )


def linear_scores(features: Features, weights_by_head: Floats, bias: Floats) -> Floats:
    """``X @ weights + bias`` for the sparse batch; ``weights_by_head`` is (heads, buckets)."""
    out = np.empty((features.n_rows, weights_by_head.shape[0]), dtype=np.float32)
    for head, weights in enumerate(weights_by_head):
        out[:, head] = np.bincount(
            features.rows,
            weights=weights[features.cols] * features.values,
            minlength=features.n_rows,
        )
    return out + bias


def word_buckets(words: Sequence[str], config: FeatureConfig) -> Ints:
    """The buckets of single words, as ``featurize`` hashes them (for rationales)."""
    hashes = np.asarray([_word_hash(w) for w in words], dtype=np.uint64)
    return (_mix(hashes + np.uint64(1 << 40)) & np.uint64(config.buckets - 1)).astype(np.int64)


_MASK64 = (1 << 64) - 1


def _mix_int(h: int) -> int:
    """``_mix`` on one Python int (same result, without numpy's per-call cost)."""
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def word_bucket(word: str, config: FeatureConfig) -> int:
    """The bucket of one word, as ``featurize`` hashes it."""
    return _mix_int(_word_hash(word) + (1 << 40)) & (config.buckets - 1)
