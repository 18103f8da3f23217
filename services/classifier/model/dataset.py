"""Labelled JSONL (the training-data shape) and the deterministic validation split.

Each line: ``{"text": ..., "lang": ..., "labels": [...], "label_scope": [...]}``;
``categories`` and other fields are optional. ``labels`` is a claim about the labels in
``label_scope`` only (all four when the line has no scope); every other label is unknown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from services.classifier.lexicon import normalize
from shared.events import Label

_LABELS = {label.value: label for label in Label}
# The weak file's labels, read as their strong label at a lower weight by the trainer.
_WEAK = {"sensitive_weak": Label.SENSITIVE, "praise_weak": Label.PRAISE}


class DatasetError(ValueError):
    """A line that cannot be read; the message names the file, the line and the field."""


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    lang: str
    labels: frozenset[Label]
    scope: frozenset[Label]
    categories: tuple[str, ...] = ()
    weak: bool = False

    def truth(self, label: Label) -> bool | None:
        """True/False when the item is annotated for ``label``, None when it is not."""
        return (label in self.labels) if label in self.scope else None


def _labels(value: object, where: str, field: str, *, allow_weak: bool) -> tuple[set[Label], bool]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{where}: field '{field}' must be a list of label names")
    out: set[Label] = set()
    weak = False
    for name in value:
        if name in _LABELS:
            out.add(_LABELS[name])
        elif allow_weak and name in _WEAK:
            out.add(_WEAK[name])
            weak = True
        else:
            known = ", ".join(_LABELS)
            raise DatasetError(f"{where}: field '{field}': unknown label {name!r} ({known})")
    return out, weak


def parse_line(line: str, where: str, *, weak: bool = False) -> Item:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    text = record.get("text")
    if not isinstance(text, str):
        raise DatasetError(f"{where}: field 'text' is missing or not a string")
    lang = record.get("lang") or "und"
    if not isinstance(lang, str):
        raise DatasetError(f"{where}: field 'lang' must be a string")
    labels, weak_labels = _labels(record.get("labels", []), where, "labels", allow_weak=True)
    scope_value = record.get("label_scope")
    scope = (
        set(Label)
        if scope_value is None
        else _labels(scope_value, where, "label_scope", allow_weak=False)[0]
    )
    outside = labels - scope
    if outside:
        names = ", ".join(sorted(label.value for label in outside))
        raise DatasetError(f"{where}: field 'labels': {names} not in 'label_scope'")
    categories = record.get("categories", [])
    if not isinstance(categories, list):
        raise DatasetError(f"{where}: field 'categories' must be a list")
    return Item(
        text=text,
        lang=lang[:2].lower(),
        labels=frozenset(labels),
        scope=frozenset(scope),
        categories=tuple(str(c) for c in categories),
        weak=weak or weak_labels,
    )


def read_jsonl(path: Path, *, weak: bool = False) -> Iterator[Item]:
    """Items of ``path``, skipping blank lines; ``DatasetError`` on the first bad line.

    ``weak``: every item of the file is a lower-precision extra (``train_weak.jsonl``).
    """
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield parse_line(line, f"{path}:{number}", weak=weak)
        except UnicodeDecodeError:
            raise DatasetError(f"{path}: not UTF-8 text") from None


def bucket(text: str, salt: str) -> int:
    """A stable number in [0, 100) from the normalised text, so duplicates share a side."""
    digest = hashlib.blake2b(f"{salt}\x1f{normalize(text)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100


def is_validation(text: str, *, percent: int = 10) -> bool:
    return bucket(text, "vigie-validation") < percent


def is_calibration(text: str, *, percent: int = 15) -> bool:
    """Within the training part: the fold kept for calibration and thresholds."""
    return bucket(text, "vigie-calibration") < percent
