"""The ``vigie`` command for operators."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from vigie.classifier_cli import classifier_app
from vigie.classifier_feedback_cli import feedback_app
from vigie.policy_cli import policy_app
from vigie.report_cli import report
from vigie.users_cli import api_keys_app, users_app

app = typer.Typer(
    help="Vigie: moderation that gets sensitive comments to a human in time.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
classifier_app.add_typer(feedback_app, name="feedback")
app.add_typer(classifier_app, name="classifier")
app.command("report")(report)
app.add_typer(users_app, name="users")
app.add_typer(api_keys_app, name="api-keys")


@app.command()
def run(
    host: str = typer.Option("127.0.0.1", help="Address to serve on."),
    port: int = typer.Option(8080, help="Port to serve on."),
) -> None:
    """Run all four services in one process (in-memory bus, SQLite under VIGIE_DATA_DIR)."""
    from services.router.policy.config import PolicyError
    from services.router.reports.mailing import MailingError
    from shared.serve import serve
    from vigie.embedded import create_app, load_settings, secrets_file

    settings = load_settings(http_host=host, http_port=port)
    try:
        application = create_app(settings)
    except PolicyError as exc:
        raise typer.Exit(_fail(f"invalid policy\n{exc}")) from exc
    except MailingError as exc:
        raise typer.Exit(_fail(f"invalid report settings: {exc}")) from exc
    typer.echo(
        f"Vigie embedded on http://{host}:{port} — data in {settings.data_dir}, "
        f"secrets in {secrets_file(settings.data_dir)}",
        err=True,
    )
    serve(application, settings, service="vigie")


@app.command()
def stack(
    log_dir: Path = typer.Option(Path(".local/logs"), help="Where each service logs."),
) -> None:
    """Run the four services as processes on VIGIE_KAFKA_BOOTSTRAP and VIGIE_DATABASE_URL."""
    import signal
    import time

    from shared.settings import CommonSettings
    from shared.storage.migrate import upgrade
    from vigie.stack import Stack

    missing = [
        n
        for n in ("VIGIE_GENERIC_WEBHOOK_SECRET", "VIGIE_WEBHOOK_SIGNING_SECRET")
        if not os.environ.get(n)
    ]
    if missing:
        raise typer.Exit(_fail(f"set {', '.join(missing)} first"))
    upgrade(CommonSettings().database_url)
    services = Stack({}, log_dir=log_dir)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    try:
        services.start()
        for service in services.services.values():
            typer.echo(f"{service.name:<11} {service.url}  (log: {service.log_path})", err=True)
        typer.echo("all four services ready; Ctrl-C stops them", err=True)
        while not stopping:
            for service in services.services.values():
                if service.process is not None and service.process.poll() is not None:
                    raise typer.Exit(_fail(f"{service.name} exited; see {service.log_path}"))
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        services.stop()


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    url: str | None = typer.Option(None, help="Database URL (default: VIGIE_DATABASE_URL)."),
) -> None:
    """Apply the database migrations."""
    from shared.settings import CommonSettings
    from shared.storage.migrate import upgrade

    target = url or CommonSettings().database_url
    try:
        upgrade(target, revision)
    except (OSError, ConnectionError) as exc:
        raise typer.Exit(_fail(f"cannot reach the database: {exc}")) from exc
    typer.echo(f"database at revision {revision}", err=True)


@app.command()
def replay(
    since: str | None = typer.Option(
        None, help="Replay requests archived at or after this ISO time (default: all)."
    ),
    platform: list[str] = typer.Option([], help="Only this platform (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count, publish nothing."),
    force: bool = typer.Option(
        False, "--force", help="Republish comments already published (skip de-duplication)."
    ),
    output: str = typer.Option("text", "--format", help="text or json."),
) -> None:
    """Re-normalise archived webhooks (vigie.comments.raw.v1) and publish what is new."""
    import asyncio
    import json
    from datetime import UTC, datetime

    from services.ingest.replay import ReplayError, run_replay
    from services.ingest.settings import IngestSettings

    if output not in ("text", "json"):
        raise typer.Exit(_fail("--format must be text or json"))
    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError as exc:
            raise typer.Exit(_fail(f"--since: not an ISO date-time: {since!r}")) from exc
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 500 == 0:
            typer.echo(f"\r  {stage}: {done}/{total}", err=True, nl=done == total)

    try:
        report = asyncio.run(
            run_replay(
                IngestSettings(),
                since=start,
                platforms=set(platform) or None,
                dry_run=dry_run,
                force=force,
                progress=progress,
            )
        )
    except ReplayError as exc:
        raise typer.Exit(_fail(str(exc))) from exc
    summary = report.as_dict()
    if output == "json":
        typer.echo(json.dumps(summary))
    else:
        verb = "would publish" if dry_run else "published"
        typer.echo(
            f"{summary['requests']} archived request(s): {verb} {summary['published']} "
            f"comment(s), {summary['duplicates']} already published, "
            f"{summary['unreadable']} unreadable, {summary['skipped']} other platform(s)"
        )


@app.command()
def receiver(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8090),
    secret: str | None = typer.Option(
        None, envvar="VIGIE_WEBHOOK_SIGNING_SECRET", help="Default: the embedded mode's secret."
    ),
) -> None:
    """Print Vigie's signed webhook deliveries (a receiver for trying Vigie out)."""
    import uvicorn

    from vigie.embedded import EmbeddedSettings, ensure_secrets
    from vigie.receiver import create_receiver

    key = secret or ensure_secrets(EmbeddedSettings().data_dir)["VIGIE_WEBHOOK_SIGNING_SECRET"]
    uvicorn.run(create_receiver(key.encode()), host=host, port=port, log_level="warning")


def _fail(message: str) -> int:
    typer.echo(f"vigie: {message}", err=True)
    return 1


def main() -> None:
    app()


if __name__ == "__main__":
    main()
