"""``vigie policy``: lint, test and check escalation policy files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

policy_app = typer.Typer(help="Escalation policy files.", no_args_is_help=True)

_POLICY = typer.Argument(..., help="The policy YAML file.")
_CASES = typer.Argument(..., help="The cases YAML file.")
_STRICT = typer.Option(False, "--strict", help="Warnings fail too (exit 1).")


def _fail(message: str) -> int:
    typer.echo(f"vigie: {message}", err=True)
    return 1


@policy_app.command("lint")
def lint(
    path: Path = _POLICY,
    strict: bool = _STRICT,
) -> None:
    """Schema and reference errors with their lines; unreachable routes, unused names and
    stale resources as warnings (exit 0 unless --strict)."""
    from services.router.policy.lint import lint_file

    findings = lint_file(path, today=date.today())
    for finding in findings:
        typer.echo(f"{finding.level}: {finding}")
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    typer.echo(f"{path}: {errors} error(s), {warnings} warning(s)", err=True)
    if errors or (strict and warnings):
        raise typer.Exit(1)


@policy_app.command("test")
def test(
    path: Path = _POLICY,
    cases: Path = _CASES,
) -> None:
    """Route a table of (comment, classification) through the policy and compare the
    routes, receivers and actions with those expected; exit 1 on any failure."""
    from services.router.policy.config import PolicyError, load_policy
    from services.router.policy.expectations import parse_cases, run_cases

    try:
        policy = load_policy(path)
        table = parse_cases(cases.read_text(encoding="utf-8"), origin=str(cases))
    except PolicyError as exc:
        raise typer.Exit(_fail(str(exc))) from exc
    except OSError as exc:
        raise typer.Exit(_fail(f"{cases}: cannot read the cases: {exc.strerror}")) from exc
    results = run_cases(policy, table)
    width = max(len(r.name) for r in results)
    for result in results:
        routes = ", ".join(result.routes)
        verdict = "PASS" if result.passed else "FAIL"
        typer.echo(f"{verdict}  {result.name:<{width}}  -> {routes or '(no route)'}")
        for mismatch in result.mismatches:
            typer.echo(f"      {mismatch}")
    failed = sum(not r.passed for r in results)
    typer.echo(f"{len(results) - failed} passed, {failed} failed", err=True)
    if failed:
        raise typer.Exit(1)


@policy_app.command("check")
def check(path: Path = _POLICY) -> None:
    """Validate a policy file: schema, matchers and references (lint without warnings)."""
    from services.router.policy.config import PolicyError, load_policy

    try:
        policy = load_policy(path)
    except PolicyError as exc:
        raise typer.Exit(_fail(str(exc))) from exc
    typer.echo(f"{path}: valid, version {policy.version}, {len(policy.routes)} route(s)")
