"""``vigie policy``: lint, test, check and simulate escalation policy files."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from shared.events import ClassifiedComment

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


_CANDIDATE = typer.Argument(..., help="The policy to try (YAML).")
_SINCE = typer.Option("7d", "--since", help="How far back: a duration (7d, 12h) or an ISO time.")
_AGAINST = typer.Option(
    None, "--against", help="The policy to compare with (default: VIGIE_POLICY_FILE)."
)


def _since(text: str, now: datetime) -> datetime:
    from services.router.policy.durations import parse_duration

    try:
        back: timedelta = parse_duration(text)
        return now - back
    except ValueError:
        pass
    try:
        start = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.Exit(_fail(f"--since: not a duration (7d) nor an ISO time: {text!r}")) from exc
    return start if start.tzinfo else start.replace(tzinfo=UTC)


@policy_app.command("simulate")
def simulate(
    path: Path = _CANDIDATE,
    since: str = _SINCE,
    against: Path | None = _AGAINST,
) -> None:
    """Replay the classified comments stored since --since (VIGIE_DATABASE_URL) through the
    current policy and this one, and print what would change: cases opened by route, pages
    sent by receiver, muted cases, comments routed differently."""
    import asyncio
    import sys

    from sqlalchemy.exc import SQLAlchemyError

    from services.router.history import classified_since
    from services.router.policy.config import PolicyError, load_policy
    from services.router.settings import RouterSettings
    from services.router.simulation import compare, report
    from services.router.simulation import simulate as replay
    from shared.storage.engine import create_engine

    settings = RouterSettings()
    current_path = against or settings.policy_file
    try:
        current, candidate = load_policy(current_path), load_policy(path)
    except PolicyError as exc:
        raise typer.Exit(_fail(str(exc))) from exc
    start = _since(since, datetime.now(UTC))

    async def read() -> tuple[list[ClassifiedComment], int]:
        engine = create_engine(settings.database_url)
        try:
            return await classified_since(engine, start)
        finally:
            await engine.dispose()

    try:
        items, broken = asyncio.run(read())
    except (SQLAlchemyError, OSError) as exc:
        raise typer.Exit(_fail(f"cannot read the database: {type(exc).__name__}")) from exc
    with typer.progressbar(length=2 * len(items), label="replaying", file=sys.stderr) as bar:
        before = replay(current, items, progress=bar.update)
        after = replay(candidate, items, progress=bar.update)
    lines = report(
        compare(before, after),
        current=f"{current_path} ({current.version})",
        candidate=f"{path} ({candidate.version})",
    )
    typer.echo("\n".join(lines))
    typer.echo(
        f"replayed comments received since {start.isoformat(timespec='seconds')}"
        + (f"; {broken} stored row(s) could not be read and were skipped" if broken else ""),
        err=True,
    )
