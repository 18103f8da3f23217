"""Per-label, per-language precision/recall/F1 and the confusion of labels, honouring each
item's ``label_scope`` (a label outside it is neither right nor wrong)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.classifier.model.dataset import Item
from shared.events import Classification, Label

NONE = "none"
ALL = "all"


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def as_dict(self) -> dict[str, float | int]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": self.tp + self.fn,
        }


@dataclass
class Evaluation:
    counts: dict[Label, dict[str, Counts]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counts))
    )
    confusion: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    unsure: Counter[str] = field(default_factory=Counter)
    items: int = 0

    def add(self, item: Item, verdict: Classification) -> None:
        self.items += 1
        predicted = set(verdict.labels)
        for label in Label:
            truth = item.truth(label)
            if truth is None:
                continue
            for lang in (item.lang, ALL):
                counts = self.counts[label][lang]
                if truth and label in predicted:
                    counts.tp += 1
                elif truth:
                    counts.fn += 1
                elif label in predicted:
                    counts.fp += 1
            if label in verdict.unsure:
                self.unsure[label.value] += 1
        shown = [label.value for label in Label if label in predicted] or [NONE]
        truths = [label.value for label in Label if label in item.labels] or [NONE]
        for truth_name in truths:
            for name in shown:
                self.confusion[truth_name][name] += 1

    def as_dict(self) -> dict[str, Any]:
        labels = {
            label.value: {lang: c.as_dict() for lang, c in sorted(by_lang.items())}
            for label, by_lang in sorted(self.counts.items())
        }
        columns = [label.value for label in Label] + [NONE]
        return {
            "labels": labels,
            "confusion": {
                row: {col: self.confusion[row][col] for col in columns}
                for row in columns
                if row in self.confusion
            },
            "unsure": dict(sorted(self.unsure.items())),
            "items": self.items,
        }


def evaluate(pairs: Iterable[tuple[Item, Classification]]) -> Evaluation:
    result = Evaluation()
    for item, verdict in pairs:
        result.add(item, verdict)
    return result


def render_text(summary: dict[str, Any]) -> str:
    """The evaluation as aligned tables (the CLI's and the report's text form)."""
    lines = [f"{'label':<11}{'lang':<6}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for label, by_lang in summary["labels"].items():
        for lang, m in by_lang.items():
            lines.append(
                f"{label:<11}{lang:<6}{m['precision']:>10.3f}{m['recall']:>8.3f}"
                f"{m['f1']:>8.3f}{m['support']:>9}"
            )
    confusion = summary["confusion"]
    if confusion:
        columns = [label.value for label in Label] + [NONE]
        lines += ["", "confusion (rows: true labels, columns: predicted labels)"]
        lines.append(f"{'':<11}" + "".join(f"{c:>11}" for c in columns))
        for row, cells in confusion.items():
            lines.append(f"{row:<11}" + "".join(f"{cells.get(c, 0):>11}" for c in columns))
    lines += ["", f"items: {summary['items']}; unsure: {summary['unsure'] or 'none'}"]
    return "\n".join(lines)
