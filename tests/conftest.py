"""Fixtures on the real services that ``scripts/services.sh up`` starts (``make test``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tests.databases import asyncpg_dsn as dsn_of
from tests.databases import create_database, drop_database
from tests.loops import LEFT_OPEN, close_left_open_here


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests with `make test` (or `make services-up`)")
    return value


@pytest.fixture(scope="session", autouse=True)
async def nothing_left_open() -> AsyncIterator[None]:
    """The session's loop closes with no connection open on it (see ``tests/loops.py``)."""
    yield
    await close_left_open_here("the session's loop")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LEFT_OPEN:
        terminalreporter.section("connections left open, closed with their loop")
        for line in LEFT_OPEN:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _required("VIGIE_KAFKA_BOOTSTRAP")


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh, migrated database for this test session, dropped at the end."""
    server = _required("VIGIE_DATABASE_URL")
    url = await create_database(server, prefix="vigie_test")
    yield url
    await drop_database(server, url)


@pytest.fixture(scope="session")
def asyncpg_dsn(database_url: str) -> str:
    return dsn_of(database_url)
