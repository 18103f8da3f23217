"""``vigie report``: the report of a week or a month, as HTML, text or JSON."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from services.router.policy.config import Policy
    from services.router.reports.model import Report
    from services.router.reports.period import Period

PERIODS = ("week", "month")
FORMATS = ("html", "json", "text", "pdf")
LANGS = ("en", "fr")


def _invalid(option: str, message: str) -> typer.Exit:
    typer.echo(f"vigie: {option}: {message}", err=True)
    return typer.Exit(2)


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _invalid(option, f"one of {', '.join(allowed)}, not {value!r}")
    return value


def _period(kind: str, ending: str | None, tz: str, *, today: date | None = None) -> Period:
    from services.router.reports.period import (
        PeriodError,
        PeriodKind,
        last_complete,
        zone,
    )
    from services.router.reports.period import (
        ending as period_ending,
    )

    try:
        local_today = datetime.now(UTC).astimezone(zone(tz)).date() if today is None else today
    except PeriodError as exc:
        raise _invalid("--tz", str(exc)) from exc
    if ending is None:
        return last_complete(PeriodKind(kind), local_today, tz)
    try:
        last_day = date.fromisoformat(ending)
    except ValueError as exc:
        raise _invalid("--ending", f"not a date (YYYY-MM-DD): {ending!r}") from exc
    if last_day > local_today:
        raise _invalid("--ending", f"{last_day} is after today ({local_today})")
    return period_ending(PeriodKind(kind), last_day, tz)


def _policy(path: Path) -> Policy:
    from services.router.policy.config import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        raise _invalid("--policy", f"invalid policy\n{exc}") from exc


async def _report(url: str, period: Period, policy: Policy) -> Report:
    from services.router.reports.generate import make_report
    from shared.storage.engine import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await make_report(
                conn,
                period,
                policy=policy,
                now=datetime.now(UTC),
                progress=lambda stage: typer.echo(f"  {stage}…", err=True),
            )
    finally:
        await engine.dispose()


def _write_pdf(html: str, output: Path, chromium: Path) -> None:
    from services.router.reports.pdf import PdfError, print_pdf

    typer.echo("  printing…", err=True)
    try:
        output.write_bytes(print_pdf(html, chromium=chromium))
    except PdfError as exc:
        typer.echo(f"vigie: --format pdf: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"written to {output}", err=True)


def report(
    period: Annotated[str, typer.Option(help="week or month.")] = "week",
    ending: Annotated[
        str | None,
        typer.Option(
            help="Last day of the period, YYYY-MM-DD (default: the last one over: last "
            "Sunday, or the last day of last month)."
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="en or fr.")] = "en",
    output_format: Annotated[
        str,
        typer.Option(
            "--format", help="html, json, text, or pdf (with --output and VIGIE_CHROMIUM)."
        ),
    ] = "text",
    output: Annotated[
        Path | None, typer.Option(help="Write the report to this file (default: stdout).")
    ] = None,
    tz: Annotated[str, typer.Option(help="Time zone of the days, e.g. Europe/Paris.")] = "UTC",
    policy: Annotated[
        Path | None,
        typer.Option(help="Policy whose chains give ack deadlines (default: VIGIE_POLICY_FILE)."),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: VIGIE_DATABASE_URL).")
    ] = None,
) -> None:
    """Volumes, crisis cases and their times to acknowledge, missed deadlines, questions,
    topics and praise of a week or a month."""
    from services.router.reports.render import Format, render
    from services.router.settings import RouterSettings

    _choice("--period", period, PERIODS)
    _choice("--lang", lang, LANGS)
    _choice("--format", output_format, FORMATS)
    span = _period(period, ending, tz)
    settings = RouterSettings()
    rules = _policy(policy or settings.policy_file)
    if output is not None and not output.parent.is_dir():
        raise _invalid("--output", f"no directory {output.parent}")
    chromium = os.environ.get("VIGIE_CHROMIUM")
    if output_format == "pdf" and (output is None or not chromium):
        raise _invalid("--format", "pdf needs --output FILE and VIGIE_CHROMIUM (a Chromium)")
    typer.echo(f"report {span.kind.value} {span.label} ({tz})", err=True)
    try:
        made = asyncio.run(_report(url or settings.database_url, span, rules))
    except (OSError, ConnectionError) as exc:
        typer.echo(f"vigie: cannot reach the database: {exc}", err=True)
        raise typer.Exit(1) from exc
    if output_format == "pdf":
        assert output is not None and chromium
        _write_pdf(render(made, fmt=Format.HTML, lang=lang), output, Path(chromium))
        return
    text = render(made, fmt=Format(output_format), lang=lang)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"written to {output}", err=True)
