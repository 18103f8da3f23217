"""``GET /api/v1/reports`` on SQLite: the report of the cases the router opened, in the
format asked, behind the API's access control; bad parameters answered 422 with a reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.router.policy.config import Policy
from shared.runtime import Runtime
from tests.unit.router.conftest import Router, prepared_router
from tests.unit.router.test_api import AUTH, TOKEN, opened


@pytest.fixture
async def router(runtime: Runtime, policy: Policy) -> Router:
    return await prepared_router(runtime, policy, router_api_token=TOKEN)


@pytest.fixture
async def client(router: Router) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router.component.routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as client:
        yield client


async def test_the_report_counts_what_the_router_saw(
    router: Router, client: httpx.AsyncClient
) -> None:
    case_id = await opened(router)  # a crisis comment, today (Saturday 21 November)
    answer = await client.get("/api/v1/reports?ending=2026-11-21", headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert (body["first_day"], body["last_day"]) == ("2026-11-15", "2026-11-21")
    assert body["cases_opened"] == 1
    assert [t["case_id"] for t in body["crisis"]["timings"]] == [case_id]
    # By default, the last week over: nothing happened then.
    default = (await client.get("/api/v1/reports", headers=AUTH)).json()
    assert (default["first_day"], default["cases_opened"]) == ("2026-11-09", 0)


@pytest.mark.parametrize(
    ("query", "media", "says"),
    [
        ("format=html&lang=fr", "text/html", "rapport hebdomadaire"),
        ("format=text&period=month", "text/plain", "Vigie monthly report"),
        ("format=html&period=month&tz=Europe/Paris&ending=2026-10-31", "text/html", "2026-10-01"),
    ],
)
async def test_formats(client: httpx.AsyncClient, query: str, media: str, says: str) -> None:
    answer = await client.get(f"/api/v1/reports?{query}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(media)
    assert says in answer.text


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("period=year", "period"),
        ("format=pdf", "format"),
        ("ending=tomorrow", "ending"),
        ("ending=2026-11-22", "ending: 2026-11-22 is after today"),
        ("tz=Mars/Base", "tz: unknown time zone"),
        ("lang=de", "lang: one of en, fr"),
    ],
)
async def test_bad_parameters_are_named(client: httpx.AsyncClient, query: str, says: str) -> None:
    answer = await client.get(f"/api/v1/reports?{query}", headers=AUTH)
    assert answer.status_code == 422
    assert says in answer.text


async def test_the_report_needs_credentials(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/reports")).status_code == 401
