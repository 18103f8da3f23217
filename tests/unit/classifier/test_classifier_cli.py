"""``vigie classifier eval`` and ``train``: JSON shape, text tables, errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.classifier.model import load
from tests.unit.classifier.test_model_train import write_tiny
from vigie.classifier_cli import classifier_app

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "classifier"
runner = CliRunner()


def test_eval_json_has_per_label_per_language_metrics() -> None:
    result = runner.invoke(
        classifier_app, ["eval", "--data", str(FIXTURES / "context.jsonl"), "--format", "json"]
    )

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    labels = summary["labels"]
    assert set(labels) == {"sensitive", "abusive", "question", "praise"}
    for by_lang in labels.values():
        assert {"en", "fr"} & set(by_lang)
        for metrics in by_lang.values():
            assert set(metrics) == {"precision", "recall", "f1", "support"}
            assert 0.0 <= metrics["f1"] <= 1.0
    # label_scope is honoured: "question" is scored only on the items that annotate it.
    assert labels["question"]["all"]["support"] == 2


def test_eval_text_prints_tables_and_a_progress_bar() -> None:
    result = runner.invoke(classifier_app, ["eval", "--data", str(FIXTURES / "fr_crisis.jsonl")])

    assert result.exit_code == 0
    assert "precision" in result.stdout and "confusion" in result.stdout
    assert "sensitive  fr" in result.stdout
    assert "[" in result.stderr and "/48" in result.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "bad.jsonl:2: not valid JSON"),
        ('{"lang": "en", "labels": []}', "bad.jsonl:2: field 'text' is missing"),
        ('{"text": "hi", "labels": ["spam"]}', "bad.jsonl:2: field 'labels': unknown label 'spam'"),
        ('{"text": "hi", "labels": "praise"}', "bad.jsonl:2: field 'labels' must be a list"),
        (
            '{"text": "hi", "labels": ["praise"], "label_scope": ["abusive"]}',
            "bad.jsonl:2: field 'labels': praise not in 'label_scope'",
        ),
        ("[1, 2]", "bad.jsonl:2: expected a JSON object"),
    ],
)
def test_eval_names_the_file_line_and_field_of_bad_input(
    tmp_path: Path, line: str, message: str
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "labels": []}\n' + line + "\n", encoding="utf-8")

    result = runner.invoke(classifier_app, ["eval", "--data", str(bad)])

    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_eval_of_a_missing_file_or_format_fails_cleanly(tmp_path: Path) -> None:
    missing = runner.invoke(classifier_app, ["eval", "--data", str(tmp_path / "nope.jsonl")])
    wrong = runner.invoke(
        classifier_app,
        ["eval", "--data", str(FIXTURES / "context.jsonl"), "--format", "xml"],
    )

    assert missing.exit_code == 2 and "nope.jsonl: cannot read" in missing.stderr
    assert wrong.exit_code == 2 and "--format" in wrong.stderr


def test_eval_of_a_corrupt_artefact_fails_cleanly(tmp_path: Path) -> None:
    result = runner.invoke(
        classifier_app,
        ["eval", "--data", str(FIXTURES / "context.jsonl"), "--model", str(tmp_path)],
    )

    assert result.exit_code == 2
    assert "manifest.json: missing" in result.stderr


def test_train_writes_an_artefact_and_its_report(tmp_path: Path) -> None:
    data = write_tiny(tmp_path / "data")
    out = tmp_path / "artefact"

    result = runner.invoke(
        classifier_app,
        ["train", "--data", str(data), "--out", str(out), "--fixtures", str(FIXTURES)],
    )

    assert result.exit_code == 0, result.output
    version = load(out).version
    assert version in result.stdout
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    assert version in report and "fr_crisis.jsonl" in report


def test_train_without_data_fails_cleanly(tmp_path: Path) -> None:
    result = runner.invoke(classifier_app, ["train", "--data", str(tmp_path)])

    assert result.exit_code == 2
    assert "train.jsonl" in result.stderr
