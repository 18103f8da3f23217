"""Users, keys and console logins for the router's HTTP tests (SQLite, in-process); no
tests here, only what the access and console tests share."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.access import store
from services.router.access.hashing import (
    ScryptCost,
    digest,
    hash_password,
    key_prefix,
    new_api_key,
)
from services.router.access.openapi import document_security
from services.router.access.roles import Role
from services.router.policy.config import Policy
from shared.runtime import Runtime
from tests.unit import factories as f
from tests.unit.router.conftest import Router, prepared_router

TOKEN = "bootstrap-token-1"
PASSWORD = "a long enough password"
FAST = ScryptCost(n=2**10)  # the cost travels with the hash: tests need not pay for it
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


async def console_router(runtime: Runtime, policy: Policy) -> Router:
    return await prepared_router(
        runtime, policy, router_api_token=TOKEN, console_insecure_cookies=True
    )


def app_of(router: Router) -> FastAPI:
    app = FastAPI()
    app.include_router(router.component.routes())
    document_security(app)
    return app


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as client:
        yield client


async def add_user(engine: AsyncEngine, name: str, role: Role, password: str = PASSWORD) -> None:
    async with engine.begin() as conn:
        await store.add_user(
            conn,
            name=name,
            role=role,
            password_hash=hash_password(password, cost=FAST),
            now=f.NOW,
            actor="test",
        )


async def add_key(engine: AsyncEngine, name: str, role: Role) -> dict[str, str]:
    """A new API key's Authorization header."""
    key = new_api_key()
    async with engine.begin() as conn:
        await store.add_api_key(
            conn, store.NewKey(name, role, digest(key), key_prefix(key)), now=f.NOW, actor="test"
        )
    return {"Authorization": f"Bearer {key}"}


async def login(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
    """Log ``client`` in (its cookie jar keeps the session) and return the CSRF token."""
    response = await client.post("/console/login", data={"name": name, "password": password})
    assert response.status_code == 303, response.text
    page = await client.get("/console/")
    found = CSRF_INPUT.search(page.text)
    assert found is not None
    return found.group(1)
