"""``vigie policy lint|test|check`` as an operator runs them: output and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigie.policy_cli import policy_app

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "config" / "policy.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "policy"


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(policy_app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_lint_of_the_shipped_policy_exits_0_with_nothing_to_say() -> None:
    code, out, err = run("lint", SHIPPED)

    assert (code, out) == (0, "")
    assert "0 error(s), 0 warning(s)" in err


def test_lint_prints_errors_with_lines_and_exits_1() -> None:
    code, out, _ = run("lint", FIXTURES / "broken.yaml")

    assert code == 1
    assert "error: " in out
    assert "routes.1.severity (line 11)" in out


@pytest.mark.parametrize(("strict", "code"), [((), 0), (("--strict",), 1)])
def test_lint_warnings_fail_only_with_strict(strict: tuple[str, ...], code: int) -> None:
    exit_code, out, err = run("lint", FIXTURES / "unreachable.yaml", *strict)

    assert exit_code == code
    assert out.count("warning: ") == 5
    assert "0 error(s), 5 warning(s)" in err


def test_test_prints_a_pass_fail_table_and_exits_0_when_all_pass() -> None:
    code, out, err = run("test", SHIPPED, FIXTURES / "cases.yaml")

    assert code == 0
    lines = out.splitlines()
    assert all(line.startswith("PASS  ") for line in lines)
    assert any(line.endswith("-> crisis") for line in lines)
    assert any(line.endswith("-> (no route)") for line in lines)
    assert "14 passed, 0 failed" in err


def test_test_exits_1_and_says_what_differs_on_a_failure() -> None:
    code, out, err = run("test", SHIPPED, FIXTURES / "failing_cases.yaml")

    assert code == 1
    assert "PASS  a crisis pages the crisis team" in out
    assert "FAIL  a wrong expectation" in out
    assert "routes: expected [crisis], got [abuse]" in out
    assert "receivers: expected [crisis-team], got [moderators]" in out
    assert "actions:" not in out  # what matched is not reported
    assert "1 passed, 1 failed" in err


def test_test_refuses_a_bad_cases_file_naming_field_and_line(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: x\n    classification: {labels: [sad]}\n    expect: {}\n",
        encoding="utf-8",
    )

    code, _, err = run("test", SHIPPED, cases)

    assert code == 1
    assert "cases.0.classification.labels.0 (line 3)" in err


def test_test_refuses_a_bad_policy(tmp_path: Path) -> None:
    code, _, err = run("test", FIXTURES / "broken.yaml", FIXTURES / "cases.yaml")

    assert code == 1
    assert err.startswith("vigie: ")
    assert "routes.1.severity" in err


def test_check_still_validates() -> None:
    ok_code, ok_out, _ = run("check", SHIPPED)
    bad_code, _, bad_err = run("check", FIXTURES / "broken.yaml")

    assert ok_code == 0
    assert ok_out.startswith(f"{SHIPPED}: valid, version 2026-11-21+")
    assert ok_out.rstrip().endswith("9 route(s)")
    assert bad_code == 1 and "routes.0.matchers.1 (line 7)" in bad_err
