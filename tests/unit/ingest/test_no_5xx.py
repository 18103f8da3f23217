"""No input yields a 5xx: generated bodies, correctly signed, through every platform's route.

Signing each generated body makes it reach the parsers, where a crash would hide; unsigned
bodies only exercise the signature check.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from starlette.types import Message

from services.ingest.adapters.base import Context, PayloadError, build_comment
from services.ingest.adapters.registry import ADAPTERS
from shared.bus.memory import MemoryBus
from shared.runtime import Runtime
from shared.storage.engine import create_engine
from shared.storage.migrate import upgrade_async
from tests import ingest_harness as h
from tests.webhook_fixtures import Fixture, load

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)


def mutate(data: Any, path: list[Any], value: Any) -> Any:
    """``data`` with the node at ``path`` replaced by ``value``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict) and head in data:
        return {**data, head: mutate(data[head], rest, value)}
    if isinstance(data, list) and isinstance(head, int) and head < len(data):
        return [mutate(v, rest, value) if i == head else v for i, v in enumerate(data)]
    return data


def paths(data: Any, prefix: list[Any] | None = None) -> Iterator[list[Any]]:
    prefix = prefix or []
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths(value, [*prefix, key])
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from paths(value, [*prefix, index])


CONTEXT = Context(received_at=datetime(2026, 11, 21, tzinfo=UTC), delivery_id="d", trace_id="t")
COMMENT: dict[str, Any] = {
    "platform": "generic",
    "source": "forum",
    "comment_id": "c-1",
    "text": "hello",
    "author_id": "u-1",
    "post_id": "p-1",
}

JSON_FIXTURES = [f for p in ADAPTERS for f in load(p) if f.content_type == "application/json"]
ALL_FIXTURES = [f for p in ADAPTERS for f in load(p)]


@dataclass(frozen=True)
class Served:
    """The ingest app and the event loop it runs on (hypothesis drives it synchronously)."""

    app: h.Served
    loop: asyncio.AbstractEventLoop


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    database = tmp_path_factory.mktemp("fuzz") / "ingest.db"
    url = f"sqlite+aiosqlite:///{database}"
    await upgrade_async(url)
    runtime = Runtime(bus=MemoryBus(), engine=create_engine(url), registry=CollectorRegistry())
    async with h.serve(runtime, h.settings(max_body_bytes=64 * 1024)) as app:
        yield Served(app, asyncio.get_running_loop())


def post(served: Served, fixture: Fixture, body: bytes) -> int:
    altered = Fixture(**{**fixture.__dict__, "body": body})
    response = served.loop.run_until_complete(served.app.post(altered, datetime.now(UTC)))
    return response.status_code


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("fixture", JSON_FIXTURES, ids=lambda f: f.id)
@FUZZ
@given(data=st.data())
def test_a_documented_payload_with_any_value_replaced_is_never_a_5xx(
    served: Served, fixture: Fixture, data: st.DataObject
) -> None:
    original = json.loads(fixture.body)
    path = data.draw(st.sampled_from(list(paths(original))))
    body = json.dumps(mutate(original, path, data.draw(json_values))).encode()

    assert post(served, fixture, body) < 500


@pytest.mark.parametrize("fixture", ALL_FIXTURES[:: max(1, len(ALL_FIXTURES) // 12)], ids=str)
@FUZZ
@given(body=st.binary(max_size=2048) | st.text(max_size=512).map(str.encode))
def test_arbitrary_bytes_signed_correctly_are_never_a_5xx(
    served: Served, fixture: Fixture, body: bytes
) -> None:
    assert post(served, fixture, body) < 500


@FUZZ
@given(body=json_values.map(lambda v: json.dumps(v).encode()))
@pytest.mark.parametrize("platform", list(ADAPTERS))
def test_any_json_document_is_never_a_5xx(served: Served, platform: str, body: bytes) -> None:
    fixture = next(f for f in load(platform))
    assert post(served, fixture, body) < 500


@pytest.mark.parametrize("platform", list(ADAPTERS))
async def test_a_client_gone_before_its_body_ends_is_refused_not_an_error(
    served: Served, platform: str
) -> None:
    fixture = load(platform)[0]
    headers = h.signed_headers(fixture, datetime.now(UTC))
    messages: list[Message] = [
        {"type": "http.request", "body": fixture.body[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    path = h.url_of(fixture, served.app.path(platform))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("ingest", 80),
    }
    await served.app.app(scope, receive, send)  # raises if the app lets the disconnect through

    assert sent[0]["status"] == 400
    assert b"did not arrive in full" in sent[1]["body"]


@pytest.mark.parametrize(
    ("text", "stored"),
    [("a\x00b", "a\ufffdb"), ("\ud800x", "\ufffdx"), ("\x00\ud800", "\ufffd\ufffd"), ("ok", "ok")],
)
def test_text_postgresql_cannot_store_is_replaced(text: str, stored: str) -> None:
    comment = build_comment(CONTEXT, **{**COMMENT, "text": text, "author_name": text})

    assert (comment.text, comment.author.name) == (stored, stored)


@pytest.mark.parametrize("field", ["comment_id", "author_id", "post_id", "source", "parent_id"])
@pytest.mark.parametrize("bad", ["x\x00", "\ud800"])
def test_ids_postgresql_cannot_store_are_refused(field: str, bad: str) -> None:
    with pytest.raises(PayloadError, match="no NUL"):
        build_comment(CONTEXT, **{**COMMENT, field: bad})


def test_the_corpus_is_big_enough_to_mean_something() -> None:
    assert {f.platform for f in ALL_FIXTURES} == set(ADAPTERS)
    assert len(ALL_FIXTURES) >= 6 * len(ADAPTERS)


def test_fixtures_record_where_they_come_from() -> None:
    for fixture in ALL_FIXTURES:
        assert len(fixture.origin) > 10, fixture.id
