"""The router's HTTP surface, every operation of its live OpenAPI, under generated input:
never a 5xx, a documented answer where the schema declares one, a reason with every JSON
refusal, and an answer to every request.

The operations come from the app itself at collection time, routes hidden from its OpenAPI
(the console's pages and forms) included, so routes added later are fuzzed without a change
here. The router runs in-process on the real PostgreSQL (a database of its own, dropped at
the end) and a memory bus; a few cases are opened first so that generated case ids and ack
tokens sometimes name a real case. Each operation is called as an admin (the bootstrap
token), as a viewer (an API key created through the API), as a moderator logged in to the
console (session cookie and CSRF token), with a forged key and with no credential. The
console's forms, which the description cannot generate, get url-encoded fields and bytes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import quote, urlencode

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import select
from starlette.routing import BaseRoute

from services.router.access.guard import COOKIE, CSRF_HEADER
from services.router.component import RouterComponent
from services.router.policy.config import load_policy
from services.router.settings import RouterSettings
from services.router.tokens import Grant, Purpose, sign
from shared.bus import Record
from shared.bus.memory import MemoryBus
from shared.runtime import Runtime
from shared.service import service_app
from shared.stage import Decoded
from shared.storage.engine import create_engine
from shared.storage.tables import cases
from tests.databases import create_database, drop_database
from tests.fuzz.scale import count, examples, fuzz_settings
from tests.unit import factories as f

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP_TOKEN = "fuzz-bootstrap-token"
ACK_SECRET = "fuzz-ack-secret"
ANSWER_WITHIN_S = 30.0  # a hang fails the test; this bounds it, it measures nothing
CREDENTIALS = ("admin", "viewer", "session", "forged", "anonymous")


def router_app(runtime: Runtime | None = None) -> tuple[FastAPI, RouterComponent]:
    """The router's app as its process builds it, on ``runtime`` once started."""
    component = RouterComponent(
        RouterSettings(
            router_api_token=BOOTSTRAP_TOKEN,  # type: ignore[arg-type]
            ack_token_secret=ACK_SECRET,  # type: ignore[arg-type]
            timer_poll_s=5,
        ),
        policy=load_policy(ROOT / "config" / "policy.yaml"),
    )

    async def open_runtime() -> Runtime:
        assert runtime is not None, "this app describes the API; it is not served"
        return runtime

    app = service_app(title="router under fuzz", open_runtime=open_runtime, components=[component])
    return app, component


def described(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI, with the routes it hides from it (the console's pages and forms,
    ``/metrics``) described too, but for streams, which answer for minutes by design.
    ``app`` is built for this and is not served."""
    for route in _all_routes(app.routes):
        if isinstance(route, APIRoute) and not _returns_a_stream(route):
            route.include_in_schema = True
    return app.openapi()


def _all_routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's lazily included router
        if included is not None:
            yield from _all_routes(included.routes)
        else:
            yield route


def _returns_a_stream(route: APIRoute) -> bool:
    try:
        returned = get_type_hints(route.endpoint).get("return")
    except NameError:
        return False
    return isinstance(returned, type) and issubclass(returned, StreamingResponse)


DESCRIPTION = described(router_app()[0])
schema = schemathesis.openapi.from_dict(DESCRIPTION)
# Forms the routes read themselves (the console's), which the description cannot generate.
FORMS = sorted(
    path
    for path, operations in DESCRIPTION["paths"].items()
    if "post" in operations and "requestBody" not in operations["post"]
)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)


@dataclass
class Router:
    client: httpx.AsyncClient
    loop: asyncio.AbstractEventLoop
    case_ids: list[str]
    tokens: dict[str, str]
    session: tuple[str, str] | None  # a moderator's console cookie and CSRF token

    def headers(self, credential: str, *, csrf_header: bool = True) -> dict[str, str]:
        if credential == "session" and self.session is not None:
            cookie, csrf = self.session
            return {"Cookie": f"{COOKIE}={cookie}"} | ({CSRF_HEADER: csrf} if csrf_header else {})
        token = self.tokens.get(credential)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def send(self, case: Case[Any], credential: str) -> httpx.Response:
        kwargs = case.as_transport_kwargs(base_url="http://router.test")
        headers = {**kwargs.get("headers", {}), **self.headers(credential)}
        if kwargs.get("cookies"):
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
        body: dict[str, Any] = {}
        if "json" in kwargs:
            body["content"] = json.dumps(kwargs["json"]).encode()
        elif isinstance(kwargs.get("data"), dict):
            body["data"] = kwargs["data"]
        elif kwargs.get("data") is not None:
            data = kwargs["data"]
            body["content"] = data.encode() if isinstance(data, str) else data
        call = self.client.request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params") or None,
            headers=[(k, _header_value(v)) for k, v in headers.items()],
            **body,
        )
        response = self.answer(call, credential)
        operation = case.operation
        count(f"router {operation.method.upper()} {operation.path}", response.status_code)
        return response

    def answer(self, call: Awaitable[httpx.Response], credential: str) -> httpx.Response:
        """The response to ``call``; a console session that a fuzzed request ended (a
        logout, a new login) is opened again for the next examples."""
        response = self.loop.run_until_complete(asyncio.wait_for(call, ANSWER_WITHIN_S))
        self.client.cookies.clear()  # a cookie set by one answer must not credit the next
        if credential == "session" and response.status_code == 401:
            opening = _console_session(self.client, self.case_ids[0])
            self.session = self.loop.run_until_complete(opening)
        return response


def _header_value(value: Any) -> bytes:
    text = str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


async def _open_cases(component: RouterComponent, how_many: int) -> None:
    for n in range(how_many):
        item = f.sensitive(f.comment(f"forum:fuzz-{n}", author_id=f"fuzz-author-{n}"))
        record = Record(topic="in", partition=0, offset=n, key=None, value=b"")
        await component.process([Decoded(record, item)])


@pytest.fixture(scope="module")
async def router() -> AsyncIterator[Router]:
    server = os.environ.get("VIGIE_DATABASE_URL")
    if not server:
        pytest.fail("VIGIE_DATABASE_URL is not set: run with `make fuzz` or `make test`")
    url = await create_database(server, prefix="vigie_fuzz_router")
    runtime = Runtime(bus=MemoryBus(), engine=create_engine(url), registry=CollectorRegistry())
    app, component = router_app(runtime)
    try:
        async with app.router.lifespan_context(app):
            await _open_cases(component, 3)
            async with runtime.engine.connect() as conn:
                case_ids = [str(i) for i in (await conn.execute(select(cases.c.id))).scalars()]
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as c:
                tokens = {"admin": BOOTSTRAP_TOKEN, "forged": "not-a-key-" + "x" * 30}
                created = await c.post(
                    "/api/v1/api-keys",
                    json={"name": "fuzz-viewer", "role": "viewer"},
                    headers={"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"},
                )
                if created.status_code == 201:
                    tokens["viewer"] = _find_key(created.json())
                session = await _console_session(c, case_ids[0])
                yield Router(c, asyncio.get_running_loop(), case_ids, tokens, session)
    finally:
        await drop_database(server, url)


async def _console_session(client: httpx.AsyncClient, case_id: str) -> tuple[str, str] | None:
    """A moderator logged in to the console: the session cookie and its CSRF token."""
    admin = {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"}
    user = {"name": "fuzz-moderator", "role": "moderator", "password": "fuzz-password-1234"}
    if (await client.post("/api/v1/users", json=user, headers=admin)).status_code not in (201, 409):
        return None
    login = await client.post(
        "/console/login", data={"name": user["name"], "password": user["password"]}
    )
    client.cookies.clear()  # each request names its credential itself
    cookie = login.cookies.get(COOKIE)
    if cookie is None:
        return None
    page = await client.get(f"/console/cases/{case_id}", headers={"Cookie": f"{COOKIE}={cookie}"})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    return (cookie, csrf.group(1)) if csrf else None


def _find_key(answer: Any) -> str:
    """The new key in the answer to its creation, wherever the answer puts it."""
    if isinstance(answer, dict):
        for name, value in answer.items():
            if name == "key" and isinstance(value, str):
                return value
            found = _find_key(value)
            if found:
                return found
    return ""


def aimed_at_real_cases(case: Case[Any], case_ids: list[str]) -> None:
    """Half the generated case ids become ids of cases that exist, and half the ack tokens
    validly signed links to them (for a generated receiver). The choice follows a hash of
    the generated value, so that it shrinks with the example."""
    parameters = case.path_parameters or {}
    for name in ("case_id", "token"):
        generated = parameters.get(name)
        if not isinstance(generated, str):
            continue
        pick = zlib.crc32(generated.encode("utf-8", "surrogatepass"))
        if pick % 2:
            continue
        case_id = case_ids[pick // 2 % len(case_ids)]
        if name == "case_id":
            parameters[name] = case_id
        else:
            expires = datetime.now(UTC) + timedelta(hours=1)
            grant = Grant(Purpose.ACK, uuid.UUID(case_id), generated[:60] or "fuzz", expires)
            parameters[name] = sign(grant, [ACK_SECRET.encode()])


def assert_refusal_has_a_reason(response: httpx.Response) -> None:
    if 400 <= response.status_code < 500 and "json" in response.headers.get("content-type", ""):
        answer = response.json()
        assert isinstance(answer, dict) and (answer.get("detail") or answer.get("error")), (
            response.text
        )


FUZZ = settings(
    max_examples=max(1, examples() // 3),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("credential", CREDENTIALS)
@schema.parametrize()
@FUZZ
def test_no_operation_answers_a_server_error(
    case: Case[Any], router: Router, credential: str
) -> None:
    held = router.session is not None if credential == "session" else credential in router.tokens
    if not held and credential != "anonymous":
        pytest.skip(f"no {credential} credential in this version of the API")
    aimed_at_real_cases(case, router.case_ids)

    response = router.send(case, credential)

    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    assert_refusal_has_a_reason(response)
    if credential in ("forged", "anonymous") and case.path.startswith("/api/"):
        assert not 200 <= response.status_code < 300, "served without a valid credential"


FIELDS = st.sampled_from(
    ["csrf_token", "name", "password", "reason", "assignee", "label", "labels", "text", "lang"]
) | st.text(max_size=20)
FORM_VALUES = st.text(max_size=60) | st.sampled_from(["", "x" * 5000, "sensitive", "fr", "en"])


@st.composite
def form_bodies(draw: st.DrawFn, csrf: str | None) -> bytes:
    """An url-encoded form (the CSRF token in it, often), or bytes that are not one."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    fields = draw(st.lists(st.tuples(FIELDS, FORM_VALUES), max_size=6))
    if csrf is not None and draw(st.integers(0, 2)):
        fields.insert(0, ("csrf_token", csrf))
    return urlencode(fields).encode()


@st.composite
def form_paths(draw: st.DrawFn, template: str, case_ids: list[str]) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) == "case_id" and draw(st.booleans()):
            return draw(st.sampled_from(case_ids))
        return quote(draw(st.text(min_size=1, max_size=40)), safe="")

    return re.sub(r"\{([a-z_]+)\}", value, template)


@pytest.mark.parametrize("credential", ["session", "admin", "anonymous"])
@pytest.mark.parametrize("path", FORMS)
@fuzz_settings(factor=1 / 3)
@given(data=st.data())
def test_no_form_answers_a_server_error(
    router: Router, path: str, credential: str, data: st.DataObject
) -> None:
    if credential == "session" and router.session is None:
        pytest.skip("no console session in this version of the router")
    csrf = router.session[1] if credential == "session" and router.session else None
    body = data.draw(form_bodies(csrf))
    url = data.draw(form_paths(path, router.case_ids))
    headers = {
        **router.headers(credential, csrf_header=False),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    call = router.client.post(url, content=body, headers=headers)

    response = router.answer(call, credential)
    count(f"router POST {path} (form)", response.status_code)

    assert response.status_code < 500, response.text
    assert_refusal_has_a_reason(response)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/cases/{case}/assign", {"assignee": "a", "reason": "\x00"}),
        ("POST", "/api/v1/cases/{case}/assign", {"assignee": "a\x00", "reason": "r"}),
        ("POST", "/api/v1/users/%00/disable", None),
        ("POST", "/api/v1/api-keys/%00/revoke", None),
        ("GET", "/api/v1/comments/generic/%00", None),
        ("GET", "/console/cases/%00", None),
        ("POST", "/console/cases/%00/resolve", {"reason": "r"}),
    ],
)
async def test_text_with_nul_characters_is_refused_not_a_server_error(
    router: Router, method: str, path: str, body: dict[str, str] | None
) -> None:
    """Found by the fuzzers: PostgreSQL text cannot hold NUL, and was answered 500."""
    console = path.startswith("/console/")  # the console's forms are url-encoded
    response = await router.client.request(
        method,
        path.format(case=router.case_ids[0]),
        json=None if console else body,
        data=body if console else None,
        headers={"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"},
    )

    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("ending", ["0001-01-01", "0001-01-06", "0001-02-15"])
@pytest.mark.parametrize("period", ["week", "month"])
async def test_a_report_ending_in_year_one_is_refused_not_a_server_error(
    router: Router, ending: str, period: str
) -> None:
    """Found by the fuzzers: the period before the first days of the calendar overflowed."""
    response = await router.client.get(
        "/api/v1/reports",
        params={"period": period, "ending": ending},
        headers={"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"},
    )

    assert response.status_code == 422, response.text
