"""Every write route of the router, found in the app itself (so that a new one is covered
the day it is added): refused without credentials (401), refused to a role below the one
it needs (403), refused to a console session without its CSRF token (403), and let through
(neither 401 nor 403) with the role it needs."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from services.router.access.guard import CSRF_HEADER, ROLE_KEY
from services.router.access.roles import Role, allows
from services.router.app import create_app
from services.router.policy.config import Policy
from services.router.settings import RouterSettings
from shared.runtime import Runtime
from tests.unit.router.conftest import POLICY_FILE, Router
from tests.unit.router.test_access_support import (
    add_key,
    add_user,
    app_of,
    client_of,
    console_router,
    login,
)

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Open on purpose: the login form carries its own credentials; an ack link is a signed,
# expiring capability sent to one receiver (the audit log names that receiver).
OPEN = {("POST", "/console/login"), ("POST", "/ack/{token}")}
PARAM = re.compile(r"\{(\w+)(:\w+)?\}")


def served_routes() -> list[RouteContext]:
    """The routes of the router service as ``python -m services.router`` serves them,
    included routers flattened (each with its full path)."""
    app = create_app(RouterSettings(policy_file=POLICY_FILE))
    return list(iter_route_contexts(app.routes))


def write_operations() -> list[tuple[str, str, str]]:
    found = []
    for route in served_routes():
        methods = set(route.methods or ()) & WRITES
        for method in sorted(methods):
            path = route.path or "?"
            if (method, path) in OPEN:
                continue
            original = route.original_route
            assert isinstance(original, APIRoute), f"{method} {path}: not an APIRoute"
            role = (original.openapi_extra or {}).get(ROLE_KEY)
            assert role is not None, f"{method} {path} does not say which role it needs"
            found.append((method, path, role))
    return found


OPERATIONS = write_operations()


def test_the_matrix_sees_the_routes_it_must() -> None:
    paths = {path for _, path, _ in OPERATIONS}

    assert "/api/v1/cases/{case_id}/acknowledge" in paths
    assert "/api/v1/silences" in paths and "/api/v1/api-keys" in paths
    assert "/console/cases/{case_id}/labels" in paths
    assert all(m in WRITES for m, _, _ in OPERATIONS)


def concrete(path: str) -> str:
    return PARAM.sub(lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else "x", path)


@pytest.fixture
async def router(runtime: Runtime, policy: Policy) -> Router:
    return await console_router(runtime, policy)


@pytest.fixture
async def client(router: Router) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app_of(router)) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "role"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
async def test_every_write_route_needs_its_role_and_a_csrf_token(
    client: httpx.AsyncClient, router: Router, method: str, path: str, role: str
) -> None:
    needed = Role(role)
    engine = router.runtime.engine
    keys = {r: await add_key(engine, f"key-{r.value}", r) for r in Role}
    await add_user(engine, "root", Role.ADMIN)
    csrf = await login(client, "root")
    url = concrete(path)

    async def call(headers: dict[str, str], *, cookies: bool) -> httpx.Response:
        if not cookies:
            client.cookies.clear()
        return await client.request(method, url, json={}, headers=headers)

    session_cookies = dict(client.cookies)
    anonymous = await call({}, cookies=False)
    below = [await call(keys[r], cookies=False) for r in Role if not allows(r, needed)]
    allowed = [await call(keys[r], cookies=False) for r in Role if allows(r, needed)]
    client.cookies.update(session_cookies)
    without_csrf = await call({}, cookies=True)
    with_csrf = await call({CSRF_HEADER: csrf}, cookies=True)

    assert anonymous.status_code == 401
    assert [r.status_code for r in below] == [403] * len(below)
    assert all(r.status_code not in (401, 403) for r in allowed), [
        (r.status_code, r.text[:200]) for r in allowed
    ]
    assert without_csrf.status_code == 403 and "CSRF" in without_csrf.json()["detail"]
    assert with_csrf.status_code not in (401, 403), with_csrf.text[:200]


READS = [
    r.path
    for r in served_routes()
    if r.path and "GET" in (r.methods or ()) and r.path.startswith(("/api/", "/console/events"))
]


@pytest.mark.parametrize("path", READS)
async def test_every_read_of_the_api_needs_a_credential(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(concrete(path))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
