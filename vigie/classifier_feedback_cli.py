"""``vigie classifier feedback``: moderators' corrections in, training examples out."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

feedback_app = typer.Typer(
    help="Moderator corrections of the classifier, kept for retraining.", no_args_is_help=True
)

UrlOption = Annotated[str | None, typer.Option(help="Database URL (default: VIGIE_DATABASE_URL).")]


def _invalid(field: str, message: str) -> typer.Exit:
    typer.echo(f"vigie: {field}: {message}", err=True)
    return typer.Exit(2)


def _database_url(url: str | None) -> str:
    from shared.settings import CommonSettings

    return url or CommonSettings().database_url


def _when(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _invalid(field, f"not an ISO date-time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@feedback_app.command("add")
def add(
    platform: Annotated[str, typer.Argument(help="Platform of the comment, e.g. meta.")],
    comment_id: Annotated[str, typer.Argument(help="The comment's id on that platform.")],
    labels: Annotated[
        str,
        typer.Argument(
            help="The right labels, comma-separated (sensitive,abusive,question,praise), or 'none'."
        ),
    ],
    moderator: Annotated[str, typer.Option("--by", help="Who makes the correction.")],
    revision: Annotated[
        int | None, typer.Option(help="Revision judged (default: the latest one seen).")
    ] = None,
    category: Annotated[
        list[str] | None, typer.Option(help="A finer category, e.g. suicide (repeatable).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Why, for whoever retrains.")] = None,
    at: Annotated[
        str | None, typer.Option(help="When the correction was made (default: now).")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Record the labels a moderator says are right for one comment."""
    from services.classifier import store
    from services.classifier.feedback import FeedbackError, correction, parse_labels
    from shared.storage.engine import create_engine

    try:
        fix = correction(
            platform=platform,
            comment_id=comment_id,
            revision=revision,
            labels=parse_labels(labels),
            categories=tuple(category or ()),
            moderator=moderator,
            corrected_at=_when(at, "at") or datetime.now(UTC),
            note=note,
        )
    except FeedbackError as exc:
        raise _invalid(exc.field, str(exc).split(": ", 1)[1]) from exc

    async def run() -> int:
        engine = create_engine(_database_url(url))
        try:
            return await store.add_feedback(engine, fix)
        finally:
            await engine.dispose()

    try:
        feedback_id = asyncio.run(run())
    except store.CommentNotFound as exc:
        raise _invalid("comment_id", f"no comment {exc} in the database") from exc
    typer.echo(f"feedback#{feedback_id}")


@feedback_app.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSONL file (default: stdout).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only corrections made at or after this ISO time.")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Write the latest correction of each comment as JSON Lines, in the training shape."""
    from services.classifier import store
    from services.classifier.feedback import jsonl
    from shared.storage.engine import create_engine

    start = _when(since, "since")

    async def run() -> list[dict[str, object]]:
        engine = create_engine(_database_url(url))
        try:
            return await store.feedback_examples(engine, since=start)
        finally:
            await engine.dispose()

    examples = asyncio.run(run())
    if output is None:
        sys.stdout.writelines(jsonl(examples))
    else:
        with output.open("w", encoding="utf-8") as out:
            out.writelines(jsonl(examples))
    typer.echo(f"{len(examples)} example(s)", err=True)
