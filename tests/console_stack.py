"""What the tests that run a router for its console share: a crisis-only policy that pages
nobody reachable, and a database of its own with one moderator who can log in."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from services.router.access import store
from services.router.access.hashing import hash_password
from services.router.access.roles import Role
from shared.runtime import utc_now
from shared.storage.engine import create_engine
from tests.databases import create_database, drop_database
from tests.unit.router.test_access_support import FAST


def crisis_policy(version: str, receiver: str) -> dict[str, Any]:
    """Sensitive comments open critical cases paging ``receiver``, a webhook nobody serves."""
    return {
        "version": version,
        "receivers": [{"name": receiver, "channel": "webhook", "url": "http://127.0.0.1:9/"}],
        "chains": [{"name": "page", "steps": [{"notify": [receiver], "wait": "10m"}]}],
        "routes": [
            {
                "name": "crisis",
                "matchers": ["label=sensitive"],
                "severity": "critical",
                "chain": "page",
                "group_by": ["platform", "author_id"],
            }
        ],
    }


@asynccontextmanager
async def moderator_database(prefix: str, name: str, password: str) -> AsyncIterator[str]:
    """A migrated database next to ``VIGIE_DATABASE_URL``'s with the moderator ``name``;
    dropped afterwards."""
    server = os.environ["VIGIE_DATABASE_URL"]
    url = await create_database(server, prefix=prefix)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await store.add_user(
                conn,
                name=name,
                role=Role.MODERATOR,
                password_hash=hash_password(password, cost=FAST),
                now=utc_now(),
                actor="test",
            )
    finally:
        await engine.dispose()
    try:
        yield url
    finally:
        await drop_database(server, url)
