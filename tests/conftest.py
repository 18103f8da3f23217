"""Fixtures on the real services that ``scripts/services.sh up`` starts (``make test``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from shared.storage.migrate import upgrade_async


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests with `make test` (or `make services-up`)")
    return value


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _required("VIGIE_KAFKA_BOOTSTRAP")


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh, migrated database for this test session, dropped at the end."""
    server = _required("VIGIE_DATABASE_URL")
    name = f"vigie_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(server))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    await upgrade_async(url)
    yield url
    admin = await asyncpg.connect(_asyncpg_dsn(server))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def asyncpg_dsn(database_url: str) -> str:
    return _asyncpg_dsn(database_url)
