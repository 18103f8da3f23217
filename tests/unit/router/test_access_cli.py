"""``vigie users`` and ``vigie api-keys`` on a SQLite database, and the embedded mode's first
admin: the way the first people and machines get in."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from services.router.access.bootstrap import FIRST_ADMIN, first_admin
from services.router.access.hashing import digest, verify_password
from shared.storage.engine import create_engine
from shared.storage.tables import api_keys, audit_log, users
from tests.unit import factories as f
from vigie.cli import app

PASSWORD = "a long enough password"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def rows(db_url: str, table: Table) -> list[Any]:
    """The table's rows, read the way the command wrote them: from a loop of its own."""

    async def read() -> list[Any]:
        engine = create_engine(db_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(select(table))).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_users_are_added_listed_and_disabled_from_the_shell(runner: CliRunner, db_url: str) -> None:
    add = ["users", "add", "ana", "--role", "moderator", "--password-stdin", "--url", db_url]

    added = runner.invoke(app, add, input=f"{PASSWORD}\n")
    again = runner.invoke(app, add, input=f"{PASSWORD}\n")
    disabled = runner.invoke(app, ["users", "disable", "ana", "--url", db_url])
    listed = runner.invoke(app, ["users", "list", "--url", db_url])
    (row,) = rows(db_url, users)
    audited = [(a.action, a.actor) for a in rows(db_url, audit_log)]

    assert added.exit_code == 0, added.output
    assert again.exit_code == 2 and "exists" in again.output
    assert disabled.exit_code == 0
    assert listed.stdout.startswith("ana\tmoderator\tdisabled")
    assert verify_password(PASSWORD, row.password_hash) and PASSWORD not in row.password_hash
    assert audited == [("user.added", "cli"), ("user.disabled", "cli")]


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["users", "add", "a b", "--role", "viewer", "--password-stdin"], PASSWORD, "NAME"),
        (["users", "add", "ana", "--role", "root", "--password-stdin"], PASSWORD, "--role"),
        (["users", "add", "ana", "--role", "viewer", "--password-stdin"], "short", "password"),
        (["users", "disable", "nobody"], "", "no user"),
        (["api-keys", "create", "bot", "--role", "god"], "", "--role"),
        (["api-keys", "revoke", "nobody"], "", "no live API key"),
    ],
)
def test_bad_input_is_named_in_the_error(
    runner: CliRunner, db_url: str, args: list[str], stdin: str, says: str
) -> None:
    result = runner.invoke(app, [*args, "--url", db_url], input=f"{stdin}\n")

    assert result.exit_code == 2
    assert says in result.output


def test_an_api_key_is_printed_once_and_stored_as_a_digest(runner: CliRunner, db_url: str) -> None:
    created = runner.invoke(
        app, ["api-keys", "create", "slack-bot", "--role", "moderator", "--url", db_url]
    )
    key = created.stdout.strip()
    listed = runner.invoke(app, ["api-keys", "list", "--url", db_url])
    (row,) = rows(db_url, api_keys)
    revoked = runner.invoke(app, ["api-keys", "revoke", "slack-bot", "--url", db_url])

    assert created.exit_code == 0 and key.startswith("vigie_")
    assert row.key_hash == digest(key) and key not in listed.stdout
    assert listed.stdout.startswith("slack-bot\tmoderator\t")
    assert row.revoked_at is None
    assert revoked.exit_code == 0 and rows(db_url, api_keys)[0].revoked_at is not None


async def test_a_fresh_installation_gets_one_admin_with_a_password_shown_once(
    engine: AsyncEngine,
) -> None:
    password = await first_admin(engine, now=f.NOW)
    second = await first_admin(engine, now=f.NOW)
    async with engine.connect() as conn:
        row = (await conn.execute(select(users))).one()

    assert password is not None and len(password) >= 20
    assert second is None  # users exist: nothing is made, nothing shown
    assert (row.name, row.role) == (FIRST_ADMIN, "admin")
    assert verify_password(password, row.password_hash)
