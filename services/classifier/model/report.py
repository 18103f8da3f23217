"""``REPORT.md``: what a trained artefact scores on the validation split and the hand-written
French/English sets, written by ``vigie classifier train``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services.classifier.model import LocalClassifier
from services.classifier.model.dataset import Item
from services.classifier.model.evaluation import evaluate, render_text
from services.classifier.model.train import Trained
from shared.events import Classification, Label

BATCH = 512


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


def render(trained: Trained, fixtures: Mapping[str, Sequence[Item]]) -> str:
    manifest = trained.artefact.manifest
    classifier = LocalClassifier(trained.artefact)
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
        f"# Classifier training report — `{manifest.version}`",
        "",
        "Written by `vigie classifier train`; do not edit by hand. Metrics are for the whole",
        "ensemble (trained heads + lexicon), on the validation split (10 % of the items, chosen",
        "by a hash of the normalised text, never trained or calibrated on). Each label is scored",
        "only on items whose `label_scope` includes it.",
        "",
        "## Validation split (`train.jsonl` items)",
        "",
        _table(evaluate(strong).as_dict()),
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
