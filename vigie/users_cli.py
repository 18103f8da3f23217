"""``vigie users`` and ``vigie api-keys``: who may use the console and the API, managed
from the operator's shell (straight on the database: this is how the first admin is made)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer

users_app = typer.Typer(help="Console users and their roles.", no_args_is_help=True)
api_keys_app = typer.Typer(help="API keys for machines.", no_args_is_help=True)

UrlOption = Annotated[str | None, typer.Option(help="Database URL (default: VIGIE_DATABASE_URL).")]
RoleOption = Annotated[str, typer.Option("--role", help="viewer, moderator or admin.")]
CLI_ACTOR = "cli"
T = TypeVar("T")


def _invalid(field: str, message: str) -> typer.Exit:
    typer.echo(f"vigie: {field}: {message}", err=True)
    return typer.Exit(2)


def _on_database(url: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    from shared.settings import CommonSettings
    from shared.storage.engine import create_engine

    async def run() -> T:
        engine = create_engine(url or CommonSettings().database_url)
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _checked_name(name: str) -> str:
    from services.router.access.identity import valid_name

    try:
        return valid_name(name)
    except ValueError as exc:
        raise _invalid("NAME", str(exc)) from exc


def _checked_role(role: str) -> Any:
    from services.router.access.roles import parse_role

    try:
        return parse_role(role)
    except ValueError as exc:
        raise _invalid("--role", str(exc)) from exc


def _password(from_stdin: bool) -> str:
    from services.router.access.admin_api import MIN_PASSWORD

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise _invalid("password", "the two entries differ")
    if len(password) < MIN_PASSWORD:
        raise _invalid("password", f"at least {MIN_PASSWORD} characters")
    return password


StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


@users_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: RoleOption,
    password_stdin: StdinOption = False,
    url: UrlOption = None,
) -> None:
    """Add a user (password prompted, or read from stdin with --password-stdin)."""
    from services.router.access import store
    from services.router.access.hashing import hash_password

    name, chosen = _checked_name(name), _checked_role(role)
    hashed = hash_password(_password(password_stdin))

    async def work(conn: Any) -> None:
        await store.add_user(
            conn,
            name=name,
            role=chosen,
            password_hash=hashed,
            now=datetime.now(UTC),
            actor=CLI_ACTOR,
        )

    try:
        _on_database(url, work)
    except store.NameTaken as exc:
        raise _invalid("NAME", str(exc)) from exc
    typer.echo(f"user {name} added ({chosen.value})")


@users_app.command("password")
def set_password(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: StdinOption = False,
    url: UrlOption = None,
) -> None:
    """Set a user's password; their open sessions end."""
    from services.router.access import store
    from services.router.access.hashing import hash_password

    hashed = hash_password(_password(password_stdin))

    async def work(conn: Any) -> bool:
        return await store.set_password(conn, name, hashed, now=datetime.now(UTC), actor=CLI_ACTOR)

    if not _on_database(url, work):
        raise _invalid("NAME", f"no user {name!r}")
    typer.echo(f"password of {name} set")


@users_app.command("list")
def list_users(url: UrlOption = None) -> None:
    """Users, their role and state."""
    from services.router.access import store

    for row in _on_database(url, store.list_users):
        state = f"disabled {row.disabled_at:%Y-%m-%d}" if row.disabled_at else "active"
        typer.echo(f"{row.name}\t{row.role}\t{state}")


@users_app.command("disable")
def disable_user(
    name: Annotated[str, typer.Argument(help="Login name.")], url: UrlOption = None
) -> None:
    """Disable a user; their open sessions end. The user stays on record."""
    from services.router.access import store

    async def work(conn: Any) -> bool:
        return await store.disable_user(conn, name, now=datetime.now(UTC), actor=CLI_ACTOR)

    if not _on_database(url, work):
        raise _invalid("NAME", f"no user {name!r}")
    typer.echo(f"user {name} disabled")


@api_keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="What uses the key, e.g. slack-bot.")],
    role: RoleOption,
    url: UrlOption = None,
) -> None:
    """Create an API key and print it: this is the only time it is shown."""
    from services.router.access import store
    from services.router.access.hashing import digest, key_prefix, new_api_key

    name, chosen = _checked_name(name), _checked_role(role)
    key = new_api_key()
    new = store.NewKey(name, chosen, digest(key), key_prefix(key))

    async def work(conn: Any) -> None:
        await store.add_api_key(conn, new, now=datetime.now(UTC), actor=CLI_ACTOR)

    try:
        _on_database(url, work)
    except store.NameTaken as exc:
        raise _invalid("NAME", str(exc)) from exc
    typer.echo(f"API key {name} ({chosen.value}) created; it is shown only now:", err=True)
    typer.echo(key)


@api_keys_app.command("list")
def list_keys(url: UrlOption = None) -> None:
    """API keys (their first characters only), role, last use, state."""
    from services.router.access import store

    for row in _on_database(url, store.list_api_keys):
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never used"
        state = "revoked" if row.revoked_at else "live"
        typer.echo(f"{row.name}\t{row.role}\t{row.prefix}…\t{used}\t{state}")


@api_keys_app.command("revoke")
def revoke_key(
    name: Annotated[str, typer.Argument(help="The key's name.")], url: UrlOption = None
) -> None:
    """Revoke the live key of that name; it stays on record."""
    from services.router.access import store

    async def work(conn: Any) -> bool:
        return await store.revoke_api_key(conn, name, now=datetime.now(UTC), actor=CLI_ACTOR)

    if not _on_database(url, work):
        raise _invalid("NAME", f"no live API key {name!r}")
    typer.echo(f"API key {name} revoked")
