"""Labelled JSONL (the training-data shape) and the deterministic validation split.

Each line: ``{"text": ..., "lang": ..., "labels": [...], "label_scope": [...]}``;
``categories``, ``source`` and other fields are optional. ``labels`` is a claim about the
labels in ``label_scope`` only (all four when the line has no scope); every other label is
unknown.

An audit (``read_audit``) relabels a few validation items by hand, by their ``source`` and a
digest of their text, without copying the text: ``audited`` joins it to the data it was made on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
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
    source: str = ""

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
    source = record.get("source", "")
    if not isinstance(source, str):
        raise DatasetError(f"{where}: field 'source' must be a string")
    return Item(
        text=text,
        lang=lang[:2].lower(),
        labels=frozenset(labels),
        scope=frozenset(scope),
        categories=tuple(str(c) for c in categories),
        weak=weak or weak_labels,
        source=source,
    )


def _lines(path: Path) -> Iterator[tuple[str, str]]:
    """``(where, line)`` for the non-blank lines of ``path``; ``DatasetError`` if unreadable."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield f"{path}:{number}", line
        except UnicodeDecodeError:
            raise DatasetError(f"{path}: not UTF-8 text") from None


def read_jsonl(path: Path, *, weak: bool = False) -> Iterator[Item]:
    """Items of ``path``, skipping blank lines; ``DatasetError`` on the first bad line.

    ``weak``: every item of the file is a lower-precision extra (``train_weak.jsonl``).
    """
    for where, line in _lines(path):
        yield parse_line(line, where, weak=weak)


def text_digest(text: str) -> str:
    """What an audit record stores instead of the text: 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Audited:
    """One item's labels checked by hand; ``original`` is what the data says."""

    source: str
    digest: str
    labels: frozenset[Label]
    original: frozenset[Label]
    rules: tuple[str, ...] = ()  # the relabelling rules applied, empty when kept

    @property
    def changed(self) -> bool:
        return self.labels != self.original


def _audit_record(line: str, where: str) -> Audited:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    for name in ("source", "text_sha256"):
        if not isinstance(record.get(name), str) or not record[name]:
            raise DatasetError(f"{where}: field '{name}' is missing or not a string")
    labels, _ = _labels(record.get("labels"), where, "labels", allow_weak=False)
    original, _ = _labels(record.get("labels_original"), where, "labels_original", allow_weak=False)
    rules = record.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise DatasetError(f"{where}: field 'rules' must be a list of rule names")
    if bool(rules) != (labels != original):
        raise DatasetError(f"{where}: field 'rules' must name the rules of a changed label")
    return Audited(
        source=record["source"],
        digest=record["text_sha256"],
        labels=frozenset(labels),
        original=frozenset(original),
        rules=tuple(rules),
    )


def read_audit(path: Path) -> list[Audited]:
    """The records of an audit file; ``DatasetError`` on the first bad line."""
    return [_audit_record(line, where) for where, line in _lines(path)]


def audited(items: Sequence[Item], audit: Sequence[Audited]) -> tuple[list[tuple[Item, Item]], int]:
    """``(item, item relabelled)`` for the audited items of ``items``, and how many records
    were not found.

    A record matches an item with its source, the same text digest and the original labels
    (inside the item's scope): an item whose data changed since the audit is left out.
    """
    by_source = {item.source: item for item in items if item.source}
    out: list[tuple[Item, Item]] = []
    for record in audit:
        item = by_source.get(record.source)
        if (
            item is None
            or text_digest(item.text) != record.digest
            or item.labels != record.original
            or not record.labels <= item.scope
        ):
            continue
        out.append((item, replace(item, labels=record.labels)))
    return out, len(audit) - len(out)


def bucket(text: str, salt: str) -> int:
    """A stable number in [0, 100) from the normalised text, so duplicates share a side."""
    digest = hashlib.blake2b(f"{salt}\x1f{normalize(text)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100


def is_validation(text: str, *, percent: int = 10) -> bool:
    return bucket(text, "vigie-validation") < percent


def is_calibration(text: str, *, percent: int = 15) -> bool:
    """Within the training part: the fold kept for calibration and thresholds."""
    return bucket(text, "vigie-calibration") < percent
