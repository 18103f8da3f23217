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
from scipy import sparse

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


def _word_hashes(grams: list[str]) -> list[int]:
    """crc32 of each n-gram, memoised (comment vocabulary repeats a lot)."""
    hashes: list[int | None] = list(map(_WORD_HASHES.get, grams))
    if None in hashes:
        if len(_WORD_HASHES) >= _WORD_CACHE_SIZE:
            _WORD_HASHES.clear()
        for index, value in enumerate(hashes):
            if value is None:
                gram = grams[index]
                hashes[index] = _WORD_HASHES[gram] = zlib.crc32(gram.encode(), 0x5EED)
    return hashes  # type: ignore[return-value]  # no None is left


def _word_ngrams(texts: Sequence[str], config: FeatureConfig) -> tuple[Ints, Ints]:
    rows: list[int] = []
    grams: list[str] = []
    for row, text in enumerate(texts):
        words = WORDS.findall(text[: config.max_chars])
        start = len(grams)
        grams.extend(words)
        for n in range(2, config.word_ngrams + 1):
            grams.extend(map(" ".join, zip(*(words[i:] for i in range(n)), strict=False)))
        rows.extend([row] * (len(grams) - start))
    mask = np.uint64(config.buckets - 1)
    h = _mix(np.asarray(_word_hashes(grams), dtype=np.uint64) + np.uint64(1 << 40))
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


def linear_scores(features: Features, weights: npt.NDArray[np.float64], bias: Floats) -> Floats:
    """``X @ weights + bias`` for the sparse batch; ``weights`` is (buckets, heads), float64.

    One sparse product in C (scipy's CSR), summing in float64 in each comment's feature
    order: one pass over the n-grams for all the heads, where a gather per head cost about
    four times as much on a batch of 256.
    """
    order = np.argsort(features.rows, kind="stable")
    indptr = np.searchsorted(features.rows[order], np.arange(features.n_rows + 1))
    matrix = sparse.csr_matrix(
        (features.values[order].astype(np.float64), features.cols[order], indptr),
        shape=(features.n_rows, weights.shape[0]),
    )
    return np.asarray(matrix @ weights, dtype=np.float32) + bias


def word_buckets(words: Sequence[str], config: FeatureConfig) -> Ints:
    """The buckets of single words, as ``featurize`` hashes them (for rationales)."""
    hashes = np.asarray(_word_hashes(list(words)), dtype=np.uint64)
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
    return _mix_int(_word_hashes([word])[0] + (1 << 40)) & (config.buckets - 1)
