"""The first admin of a fresh installation (the embedded mode makes one at start)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.access import store
from services.router.access.hashing import hash_password
from services.router.access.roles import Role

FIRST_ADMIN = "admin"


async def first_admin(engine: AsyncEngine, *, now: datetime) -> str | None:
    """When there is no user at all: add ``admin`` with a generated password and return the
    password (shown once, never stored in clear); None when users exist."""
    async with engine.begin() as conn:
        if await store.count_users(conn):
            return None
        password = secrets.token_urlsafe(18)
        await store.add_user(
            conn,
            name=FIRST_ADMIN,
            role=Role.ADMIN,
            password_hash=hash_password(password),
            now=now,
            actor="system:bootstrap",
        )
    return password
