"""``vigie classifier``: train the comment classifier's model and evaluate it on a JSONL file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

classifier_app = typer.Typer(help="The comment classifier's model.", no_args_is_help=True)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "classifier"
INPUT_ERROR = 2


def _fail(message: str, code: int = INPUT_ERROR) -> int:
    typer.echo(f"vigie: {message}", err=True)
    return code


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + "-" * (width - filled)
    typer.echo(f"\r  [{bar}] {done}/{total}", err=True, nl=done >= total)


@classifier_app.command()
def train(
    data: Annotated[Path, typer.Option(help="Directory with train.jsonl (and train_weak.jsonl).")],
    out: Annotated[Path | None, typer.Option(help="Artefact directory (default: shipped).")] = None,
    fixtures: Annotated[
        Path, typer.Option(help="Hand-written JSONL sets to report on.")
    ] = FIXTURES,
) -> None:
    """Train the fast path, write the artefact and its REPORT.md (deterministic)."""
    from services.classifier.model import DEFAULT_ARTEFACT
    from services.classifier.model.dataset import DatasetError, read_jsonl
    from services.classifier.model.report import render
    from services.classifier.model.train import save
    from services.classifier.model.train import train as run_training

    target = out or DEFAULT_ARTEFACT
    try:
        trained = run_training(data, progress=lambda message: typer.echo(message, err=True))
        sets = {path.name: list(read_jsonl(path)) for path in sorted(fixtures.glob("*.jsonl"))}
    except (DatasetError, FileNotFoundError) as exc:
        raise typer.Exit(_fail(str(exc))) from exc
    save(trained, target)
    (target / "REPORT.md").write_text(render(trained, sets), encoding="utf-8")
    typer.echo(f"{trained.artefact.manifest.version} written to {target}")


@classifier_app.command("eval")
def evaluate(
    data: Annotated[Path, typer.Option(help="A JSONL file in the training-data shape.")],
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    model: Annotated[
        Path | None, typer.Option(help="Artefact directory (default: shipped).")
    ] = None,
) -> None:
    """Per-label precision, recall, F1 and support by language, and the label confusion."""
    from services.classifier.model import ArtefactError, load, load_default
    from services.classifier.model.dataset import DatasetError, read_jsonl
    from services.classifier.model.evaluation import evaluate as score
    from services.classifier.model.evaluation import render_text
    from services.classifier.model.report import classify_items

    if output not in ("text", "json"):
        raise typer.Exit(_fail("--format must be text or json"))
    try:
        items = list(read_jsonl(data))
        classifier = load(model) if model is not None else load_default()
    except (DatasetError, ArtefactError) as exc:
        raise typer.Exit(_fail(str(exc))) from exc
    verdicts = classify_items(classifier, items, _progress)
    summary = score(zip(items, verdicts, strict=True)).as_dict()
    summary["model_version"] = classifier.version
    if output == "json":
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"model {classifier.version}, {data}")
        typer.echo(render_text(summary))
