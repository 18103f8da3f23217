"""``REPORT.md``: what a trained artefact (and its deep model) scores on the validation split,
on the audited subset of it (beside the raw labels, never instead) and on the hand-written
French/English sets, written by ``vigie classifier train``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from services.classifier.model import DEFAULT_ARTEFACT, LocalClassifier
from services.classifier.model.dataset import Audited, Item, audited, read_audit
from services.classifier.model.deep import DeepModel, asked
from services.classifier.model.evaluation import evaluate, render_text
from services.classifier.model.train import Trained
from shared.events import Classification, Label

BATCH = 512
AUDIT_FILE = "validation_audit.jsonl"
DEFAULT_AUDIT = DEFAULT_ARTEFACT / AUDIT_FILE


def classify_items(
    classifier: LocalClassifier,
    items: Sequence[Item],
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> list[Classification]:
    out: list[Classification] = []
    for start in range(0, len(items), BATCH):
        chunk = items[start : start + BATCH]
        out.extend(classifier.classify_batch([(item.text, None) for item in chunk]))
        progress(len(out), len(items))
    return out


def _table(summary: dict[str, Any]) -> str:
    return "```\n" + render_text(summary) + "\n```\n"


def _deep_section(
    deep: DeepModel,
    items: Sequence[Item],
    fast: Sequence[Classification],
    refined: Sequence[Classification],
) -> list[str]:
    reached = sum(1 for verdict in fast if asked(verdict, deep.labels))
    before = evaluate(zip(items, fast, strict=True)).as_dict()["labels"]
    after = evaluate(zip(items, refined, strict=True)).as_dict()["labels"]
    rows = [
        f"| {label} | {before[label.value]['all']['f1']:.3f}"
        f" | {after[label.value]['all']['f1']:.3f} | {threshold:.4f} |"
        for label, threshold in zip(deep.labels, deep.thresholds.tolist(), strict=True)
        if label.value in before
    ]
    return [
        f"## Deep model `{deep.version}` (unsure band only)",
        "",
        f"Word vectors distilled from `{deep.encoder}` ({len(deep.vocabulary)} words), one",
        "logistic head per label, asked only about the labels a comment is unsure of.",
        f"Validation comments that reach it: {reached} of {len(items)}"
        f" ({100 * reached / max(len(items), 1):.1f} %).",
        "",
        "| label | F1 fast path alone | F1 with the deep model | deep threshold |",
        "|---|---:|---:|---:|",
        *rows,
        "",
    ]


def _audit_section(
    audit: Sequence[Audited],
    validation: Sequence[Item],
    verdicts: Sequence[Classification],
) -> list[str]:
    pairs, missing = audited(validation, audit)
    verdict_of = {id(item): v for item, v in zip(validation, verdicts, strict=True)}
    originals = [(item, verdict_of[id(item)]) for item, _ in pairs]
    relabelled = [(new, verdict_of[id(item)]) for item, new in pairs]
    changed = sum(1 for item, new in pairs if item.labels != new.labels)
    lines = [
        f"## Audited validation subset (`{AUDIT_FILE}`)",
        "",
        f"{len(pairs)} validation items whose `question` and `praise` labels were checked by",
        f"hand ({changed} changed; selection and relabelling rules in `VALIDATION_AUDIT.md`).",
        "The same items and the same verdicts, scored on the labels of the data and on the",
        "audited labels: the difference is the audit alone. The raw split above stays the",
        "measure; this one says how much of its error is in the labels.",
        "",
    ]
    if missing:
        lines += [f"{missing} of {len(audit)} records do not match this data; left out.", ""]
    if not pairs:
        return lines
    return [
        *lines,
        "Labels of the data:",
        "",
        _table(evaluate(originals).as_dict()),
        "Audited labels:",
        "",
        _table(evaluate(relabelled).as_dict()),
    ]


def load_audit(path: Path = DEFAULT_AUDIT) -> list[Audited]:
    """The shipped audit (none when the file is absent); ``DatasetError`` if it is corrupt."""
    return read_audit(path) if path.is_file() else []


def render(
    trained: Trained,
    fixtures: Mapping[str, Sequence[Item]],
    *,
    deep: DeepModel | None = None,
    audit: Sequence[Audited] | None = None,
) -> str:
    """The report; ``audit`` defaults to the shipped ``validation_audit.jsonl``."""
    manifest = trained.artefact.manifest
    classifier = LocalClassifier(trained.artefact, deep=deep)
    validation = trained.split.validation
    verdicts = classify_items(classifier, validation)
    strong = [(i, v) for i, v in zip(validation, verdicts, strict=True) if not i.weak]
    with_weak = list(zip(validation, verdicts, strict=True))
    open_world = [
        (dataclasses.replace(i, scope=i.scope | {Label.SENSITIVE}), v) for i, v in with_weak
    ]
    sensitive_weak = evaluate(with_weak).as_dict()["labels"].get("sensitive", {})
    sensitive_open = evaluate(open_world).as_dict()["labels"].get("sensitive", {})
    lines = [
        f"# Classifier training report — `{classifier.version}`",
        "",
        "Written by `vigie classifier train`; do not edit by hand. Metrics are for the whole",
        "ensemble (trained heads + lexicon, and the deep model on the unsure band when there is",
        "one), on the validation split (10 % of the items, chosen by a hash of the normalised",
        "text, never trained or calibrated on). Each label is scored only on items whose",
        "`label_scope` includes it.",
        "",
        "## Validation split (`train.jsonl` items)",
        "",
        _table(evaluate(strong).as_dict()),
        *_audit_section(load_audit() if audit is None else audit, validation, verdicts),
        "## Sensitive, with harder negatives",
        "",
        "The sensitive sources are all positive, so in scope its precision says little. With the",
        "weak file's long-form negatives (in scope):",
        "",
        _metrics_line(sensitive_weak.get("all")),
        "",
        "Open world: every validation item outside the sensitive sources counted as a negative",
        "(an upper bound on false positives: some of those comments may well be sensitive):",
        "",
        _metrics_line(sensitive_open.get("all")),
        "",
    ]
    if deep is not None:
        fast = classify_items(LocalClassifier(trained.artefact), validation)
        strong_items = [item for item in validation if not item.weak]
        strong_fast = [v for item, v in zip(validation, fast, strict=True) if not item.weak]
        lines += _deep_section(deep, strong_items, strong_fast, [v for _, v in strong])
    for name, items in fixtures.items():
        fixture_verdicts = classify_items(classifier, items)
        lines += [
            f"## Hand-written set `{name}`",
            "",
            _table(evaluate(zip(items, fixture_verdicts, strict=True)).as_dict()),
        ]
    bands = "\n".join(
        f"| {name} | {b.threshold:.4f} | {b.low:.4f} | {b.high:.4f} |"
        for name, b in manifest.bands.items()
    )
    lines += [
        "## Thresholds and unsure bands (calibrated probability)",
        "",
        "| head | threshold | unsure from | unsure to |",
        "|---|---:|---:|---:|",
        bands,
        "",
        "## Data",
        "",
        *[f"- `{name}`: sha256 `{digest}`" for name, digest in manifest.data.items()],
        f"- items: {manifest.training.get('items')}",
        "",
    ]
    return "\n".join(lines)


def _metrics_line(metrics: Mapping[str, float | int] | None) -> str:
    if not metrics:
        return "(no items)"
    return (
        f"precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f}, "
        f"F1 {metrics['f1']:.3f}, support {metrics['support']}"
    )
