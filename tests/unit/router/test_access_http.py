"""Access control over HTTP, on SQLite and the test's clock: logging in and out, cookies,
session expiry, CSRF, API keys (created, used, revoked), the author in the audit log, and
the OpenAPI description of it all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.router.access.guard import COOKIE, CSRF_HEADER
from services.router.access.roles import Role
from services.router.policy.config import Policy
from shared.runtime import Runtime
from shared.storage.tables import api_keys, audit_log, console_sessions
from tests.unit.router.conftest import MovingClock, Router, prepared_router
from tests.unit.router.test_access_support import (
    PASSWORD,
    TOKEN,
    add_user,
    app_of,
    client_of,
    console_router,
    login,
)
from tests.unit.router.test_api import opened

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def router(runtime: Runtime, policy: Policy) -> Router:
    return await console_router(runtime, policy)


@pytest.fixture
async def client(router: Router) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app_of(router)) as client:
        yield client


async def sessions(router: Router) -> int:
    async with router.runtime.engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(console_sessions))).scalar_one()
        )


async def actors(router: Router, action: str) -> list[str]:
    async with router.runtime.engine.connect() as conn:
        rows = await conn.execute(select(audit_log.c.actor).where(audit_log.c.action == action))
        return list(rows.scalars())


async def test_logging_in_sets_a_protected_session_cookie_and_logging_out_ends_it(
    client: httpx.AsyncClient, router: Router
) -> None:
    await add_user(router.runtime.engine, "ana", Role.VIEWER)

    response = await client.post("/console/login", data={"name": "ana", "password": PASSWORD})
    cookie = response.headers["set-cookie"]
    csrf = await login(client, "ana")
    before = await sessions(router)
    out = await client.post("/console/logout", data={"csrf_token": csrf})
    after_logout = await client.get("/console/", follow_redirects=False)

    assert response.status_code == 303 and response.headers["location"] == "/console/"
    assert cookie.startswith(f"{COOKIE}=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # VIGIE_CONSOLE_INSECURE_COOKIES in this test
    assert before == 1  # logging in again replaced the first session
    assert out.status_code == 303 and await sessions(router) == 0
    assert after_logout.headers["location"] == "/console/login"
    assert await actors(router, "session.logout") == ["user:ana"]


async def test_the_cookie_is_secure_unless_told_otherwise(runtime: Runtime, policy: Policy) -> None:
    router = await prepared_router(runtime, policy)
    await add_user(runtime.engine, "ana", Role.VIEWER)
    async with client_of(app_of(router)) as client:
        response = await client.post("/console/login", data={"name": "ana", "password": PASSWORD})

    assert "; secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("name", "password"),
    [("ana", "wrong password!!"), ("nobody", PASSWORD), ("gone", PASSWORD), ("", "")],
)
async def test_a_wrong_login_opens_no_session(
    client: httpx.AsyncClient, router: Router, name: str, password: str
) -> None:
    await add_user(router.runtime.engine, "ana", Role.ADMIN)
    await add_user(router.runtime.engine, "gone", Role.ADMIN)
    await client.post("/api/v1/users/gone/disable", headers=ADMIN)

    response = await client.post("/console/login", data={"name": name, "password": password})

    assert response.status_code == 401
    assert "Wrong name or password" in response.text or "Nom ou mot de passe" in response.text
    assert COOKIE not in response.headers.get("set-cookie", "")
    assert await sessions(router) == 0


async def test_a_login_posted_from_another_site_is_refused(
    client: httpx.AsyncClient, router: Router
) -> None:
    await add_user(router.runtime.engine, "ana", Role.VIEWER)
    form = {"name": "ana", "password": PASSWORD}

    elsewhere = await client.post(
        "/console/login", data=form, headers={"Origin": "https://evil.example"}
    )
    here = await client.post("/console/login", data=form, headers={"Origin": "http://router.test"})

    assert elsewhere.status_code == 403 and "set-cookie" not in elsewhere.headers
    assert here.status_code == 303


@pytest.mark.parametrize(
    ("minutes", "state", "works"),
    [(29, "live", True), (31, "idle", False)],
)
async def test_a_session_left_idle_ends(
    client: httpx.AsyncClient,
    router: Router,
    clock: MovingClock,
    minutes: int,
    state: str,
    works: bool,
) -> None:
    await add_user(router.runtime.engine, "ana", Role.VIEWER)
    await login(client, "ana")

    clock.at(minutes)
    response = await client.get("/api/v1/cases")

    assert (response.status_code == 200) is works
    if not works:
        assert state in response.json()["detail"]
        assert await sessions(router) == 0  # an ended session is deleted when seen


async def test_an_active_session_still_ends_at_its_expiry(
    client: httpx.AsyncClient, router: Router, clock: MovingClock
) -> None:
    await add_user(router.runtime.engine, "ana", Role.VIEWER)
    await login(client, "ana")
    statuses = []
    for minute in range(20, 12 * 60 + 1, 20):  # a request every 20 minutes for 12 hours
        clock.at(minute)
        statuses.append((await client.get("/api/v1/cases")).status_code)

    assert set(statuses[:-1]) == {200}
    assert statuses[-1] == 401
    page = await client.get("/console/", follow_redirects=False)
    assert page.headers["location"] == "/console/login"


async def test_a_disabled_users_sessions_end_at_once(
    client: httpx.AsyncClient, router: Router
) -> None:
    await add_user(router.runtime.engine, "ana", Role.MODERATOR)
    await login(client, "ana")
    assert (await client.get("/api/v1/cases")).status_code == 200
    cookies = dict(client.cookies)
    client.cookies.clear()

    disabled = await client.post("/api/v1/users/ana/disable", headers=ADMIN)
    client.cookies.update(cookies)
    after = await client.get("/api/v1/cases")

    assert disabled.status_code == 200 and after.status_code == 401
    assert await actors(router, "user.disabled") == ["key:router-api-token"]


async def test_csrf_token_in_a_header_or_a_form_field_lets_a_session_act(
    client: httpx.AsyncClient, router: Router
) -> None:
    await add_user(router.runtime.engine, "ana", Role.MODERATOR)
    case_id = await opened(router)
    csrf = await login(client, "ana")

    wrong = await client.post(
        f"/api/v1/cases/{case_id}/acknowledge", json={}, headers={CSRF_HEADER: "forged"}
    )
    by_header = await client.post(
        f"/api/v1/cases/{case_id}/acknowledge", json={}, headers={CSRF_HEADER: csrf}
    )
    by_form = await client.post(
        f"/console/cases/{case_id}/resolve", data={"csrf_token": csrf, "reason": "safe"}
    )
    as_other = await client.post(
        f"/api/v1/cases/{case_id}/reopen",
        json={"by": "bob", "reason": "x"},
        headers={CSRF_HEADER: csrf},
    )

    assert wrong.status_code == 403
    assert by_header.status_code == 200
    assert by_header.json()["case"]["acknowledged_by"] == "user:ana"
    assert by_form.status_code == 303
    assert as_other.status_code == 403 and "own name" in as_other.json()["detail"]
    assert await actors(router, "case.acknowledge") == ["user:ana"]
    assert await actors(router, "case.resolve") == ["user:ana"]


async def test_an_admin_creates_an_api_key_that_works_until_revoked(
    client: httpx.AsyncClient, router: Router, clock: MovingClock
) -> None:
    created = await client.post(
        "/api/v1/api-keys", json={"name": "slack-bot", "role": "moderator"}, headers=ADMIN
    )
    key = created.json()["key"]
    bot = {"Authorization": f"Bearer {key}"}
    case_id = await opened(router)
    clock.at(5)
    acked = await client.post(
        f"/api/v1/cases/{case_id}/acknowledge", json={"by": "ana"}, headers=bot
    )
    twice = await client.post(
        "/api/v1/api-keys", json={"name": "slack-bot", "role": "viewer"}, headers=ADMIN
    )
    listed = (await client.get("/api/v1/api-keys", headers=ADMIN)).json()["api_keys"]
    revoked = await client.post("/api/v1/api-keys/slack-bot/revoke", headers=ADMIN)
    after = await client.get("/api/v1/cases", headers=bot)
    async with router.runtime.engine.connect() as conn:
        stored = (await conn.execute(select(api_keys))).one()

    assert created.status_code == 201 and key.startswith("vigie_")
    assert acked.json()["case"]["acknowledged_by"] == "key:slack-bot/ana"
    assert twice.status_code == 409
    assert [(k["name"], k["role"], k["last_used_at"] is not None) for k in listed] == [
        ("slack-bot", "moderator", True)
    ]
    assert "key" not in listed[0] and key not in str(stored)  # only the digest is stored
    assert revoked.status_code == 200 and after.status_code == 401
    assert await actors(router, "api_key.created") == ["key:router-api-token"]
    assert await actors(router, "api_key.revoked") == ["key:router-api-token"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": "bad name", "role": "viewer", "password": PASSWORD}, "valid name"),
        ({"name": "ana", "role": "root", "password": PASSWORD}, "role"),
        ({"name": "ana", "role": "viewer", "password": "short"}, "12 characters"),
    ],
)
async def test_a_bad_user_is_refused_with_a_reason(
    client: httpx.AsyncClient, body: dict[str, Any], says: str
) -> None:
    response = await client.post("/api/v1/users", json=body, headers=ADMIN)

    assert response.status_code == 422
    assert says in str(response.json()["detail"])


async def test_an_admin_adds_a_user_who_can_then_log_in(
    client: httpx.AsyncClient, router: Router
) -> None:
    body = {"name": "cleo", "role": "moderator", "password": PASSWORD}
    added = await client.post("/api/v1/users", json=body, headers=ADMIN)
    again = await client.post("/api/v1/users", json=body, headers=ADMIN)
    listed = (await client.get("/api/v1/users", headers=ADMIN)).json()["users"]
    await login(client, "cleo")

    assert (added.status_code, again.status_code) == (201, 409)
    assert [(u["name"], u["role"]) for u in listed] == [("cleo", "moderator")]
    assert all("password_hash" not in u for u in listed)
    assert await actors(router, "session.login") == ["user:cleo"]


async def test_the_openapi_description_names_the_schemes_and_each_operations_needs(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]

    assert set(schema["components"]["securitySchemes"]) == {"apiKey", "session", "csrf"}
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert paths["/api/v1/cases"]["get"]["security"] == [{"apiKey": []}, {"session": []}]
    ack = paths["/api/v1/cases/{case_id}/acknowledge"]["post"]
    assert ack["security"] == [{"apiKey": []}, {"session": [], "csrf": []}]
    assert ack["x-vigie-role"] == "moderator"
    assert paths["/api/v1/api-keys"]["post"]["x-vigie-role"] == "admin"
    assert "security" not in paths["/ack/{token}"]["post"]
