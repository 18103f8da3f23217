"""Throw-away PostgreSQL databases on the server that ``VIGIE_DATABASE_URL`` names."""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy.engine import make_url

from shared.storage.migrate import upgrade_async


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL in the form asyncpg takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(server_url: str, *, prefix: str) -> str:
    """A new, migrated database next to ``server_url``'s; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await upgrade_async(url)
    return url


async def analyze(url: str) -> None:
    """Give the planner statistics, as a database in service has them.

    A database created for a benchmark starts empty and is first analysed by autovacuum
    about a minute later; until then PostgreSQL plans for empty tables (sequential scans),
    and the plans a connection prepared then stay until the statistics change: the run
    would measure the first minute of a new installation rather than a database in service.
    """
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
