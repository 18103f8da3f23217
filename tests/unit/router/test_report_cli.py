"""``vigie report`` on SQLite: the report on stdout or in a file, bad options named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.router.reports.model import Report
from services.router.reports.pdf import PdfError, print_pdf
from tests.unit.router.conftest import POLICY_FILE
from vigie.cli import app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", "--policy", str(POLICY_FILE), *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_json_report_of_a_month(db_url: str) -> None:
    code, out, err = run(
        "--url", db_url, "--period", "month", "--ending", "2026-10-31", "--format", "json"
    )
    assert code == 0, err
    made = Report.model_validate(json.loads(out))
    assert (made.first_day.isoformat(), made.last_day.isoformat()) == ("2026-10-01", "2026-10-31")
    assert "report month 2026-10-01 – 2026-10-31 (UTC)" in err


def test_an_html_report_in_french_to_a_file(db_url: str, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    code, out, err = run(
        "--url", db_url, "--lang", "fr", "--format", "html", "--tz", "Europe/Paris",
        "--ending", "2026-11-15", "--output", str(target),
    )  # fmt: skip
    assert code == 0, err
    assert out == "" and f"written to {target}" in err
    assert "rapport hebdomadaire" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--period", "year"), "--period: one of week, month"),
        (("--format", "svg"), "--format: one of html, json, text, pdf"),
        (("--lang", "de"), "--lang: one of en, fr"),
        (("--ending", "15/11/2026"), "--ending: not a date"),
        (("--ending", "2999-01-01"), "--ending: 2999-01-01 is after today"),
        (("--tz", "Mars/Base"), "--tz: unknown time zone"),
        (("--output", "/nonexistent/dir/r.html"), "--output: no directory"),
        (
            ("--format", "pdf", "--output", "r.pdf"),
            "--format: pdf needs --output FILE and VIGIE_CH",
        ),
    ],
)
def test_bad_options_are_named(args: tuple[str, ...], says: str) -> None:
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert says in err


def test_a_broken_policy_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "policy.yaml"
    broken.write_text("version: 1\nroutes: [")
    result = CliRunner().invoke(app, ["report", "--policy", str(broken)])
    assert result.exit_code == 2 and "--policy: invalid policy" in result.stderr


@pytest.mark.parametrize(
    ("chromium", "says"),
    [
        ("/nonexistent/chromium", "cannot run /nonexistent/chromium"),
        ("/bin/false", "printed nothing"),
    ],
)
def test_a_pdf_that_cannot_be_printed_says_why(chromium: str, says: str) -> None:
    with pytest.raises(PdfError, match=says):
        print_pdf("<p>report</p>", chromium=Path(chromium))
