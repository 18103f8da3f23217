"""Every webhook route under hostile input: never a 5xx (but 503 while the bus is down), a
2xx only when the delivery was published, a reason with every refusal, and an answer to
every request.

Bodies are the documented payloads of ``tests/fixtures/webhooks`` mutated and signed
correctly, so that they reach the parsers; headers are then broken one at a time, so that
the signature checks see them too. The app runs in-process on a memory bus and SQLite, as
``tests/unit/ingest/test_no_5xx.py`` does, for speed.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from services.ingest.adapters.base import Adapter
from services.ingest.adapters.registry import ADAPTERS
from shared.bus import BusUnavailable, Message
from shared.bus.memory import MemoryBus
from shared.runtime import Runtime
from shared.storage.engine import create_engine
from shared.storage.migrate import upgrade_async
from shared.topics import COMMENT_TOPICS, COMMENTS_RAW, SOURCE_CHANGES
from tests import ingest_harness as h
from tests.fuzz import hostile_requests as r
from tests.fuzz import payloads as p
from tests.fuzz.scale import count, fuzz_settings
from tests.webhook_fixtures import Fixture, load

MAX_BODY = 64 * 1024
ANSWER_WITHIN_S = 30.0  # a hang fails the test; this bounds it, it measures nothing
PLATFORMS = sorted(ADAPTERS)


class SwitchableBus(MemoryBus):
    """A memory bus that counts what it accepted per topic and can be switched off."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.published: Counter[str] = Counter()
        self.unstorable: list[bytes] = []  # events PostgreSQL could not store (NUL in text)

    async def publish(self, messages: Sequence[Message], **kwargs: object) -> None:
        if self.down:
            raise BusUnavailable("switched off by the test")
        await super().publish(messages, **kwargs)  # type: ignore[arg-type]
        self.published.update(m.topic for m in messages)
        self.unstorable += [
            m.value for m in messages if m.topic != COMMENTS_RAW and b"\\u0000" in m.value
        ]


@dataclass(frozen=True)
class Ingest:
    served: h.Served
    bus: SwitchableBus
    loop: asyncio.AbstractEventLoop

    def adapter(self, platform: str) -> Adapter:
        return next(a for a in self.served.component.adapters if a.platform == platform)

    def send(self, method: str, request: r.Request) -> httpx.Response:
        call = self.served.client.request(
            method,
            request.path,
            content=request.body,
            headers=[(n.encode(), v) for n, v in request.headers],
            params=request.query,
        )
        response = self.loop.run_until_complete(asyncio.wait_for(call, ANSWER_WITHIN_S))
        count(f"ingest {method} {self.adapter_path(request.path)}", response.status_code)
        return response

    def adapter_path(self, path: str) -> str:
        return "/".join(path.split("/")[:3])  # /webhooks/<platform>, whatever follows


@pytest.fixture(scope="module")
async def ingest(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Ingest]:
    database = tmp_path_factory.mktemp("fuzz") / "ingest.db"
    url = f"sqlite+aiosqlite:///{database}"
    await upgrade_async(url)
    bus = SwitchableBus()
    runtime = Runtime(bus=bus, engine=create_engine(url), registry=CollectorRegistry())
    async with h.serve(runtime, h.settings(max_body_bytes=MAX_BODY)) as served:
        yield Ingest(served, bus, asyncio.get_running_loop())


def fixtures(platform: str) -> st.SearchStrategy[Fixture]:
    return st.sampled_from(load(platform))


def mutated(fixture: Fixture) -> st.SearchStrategy[bytes]:
    if fixture.content_type == "application/json":
        return p.mutated_json(json.loads(fixture.body))
    return p.mutated_xml(fixture.body)


def assert_answered_well(ingest: Ingest, response: httpx.Response, before: Counter[str]) -> None:
    """The contract of a webhook answer, whatever was sent."""
    status = response.status_code
    events = sum(ingest.bus.published[t] - before[t] for t in (*COMMENT_TOPICS, SOURCE_CHANGES))
    archived = ingest.bus.published[COMMENTS_RAW] - before[COMMENTS_RAW]
    unstorable, ingest.bus.unstorable = ingest.bus.unstorable, []
    assert not unstorable, unstorable
    if ingest.bus.down:
        assert status < 500 or status == 503, response.text
        assert not 200 <= status < 300, "answered 2xx while nothing could be published"
    else:
        assert status < 500, response.text
    if 200 <= status < 300:
        assert archived == 1, "a 2xx without the delivery on the bus"
        if response.headers.get("content-type") == "application/json":
            answer = response.json()
            if "comments" in answer:
                assert events == answer["comments"] + answer["changes"]
        return
    assert events == 0, "events published but the platform was told to retry or give up"
    assert archived <= 1
    reason = response.json()
    assert isinstance(reason, dict)
    assert reason.get("error") or reason.get("detail"), response.text
    if status == 503:
        assert response.headers.get("retry-after")


def post(ingest: Ingest, request: r.Request) -> httpx.Response:
    before = Counter(ingest.bus.published)
    response = ingest.send("POST", request)
    assert_answered_well(ingest, response, before)
    return response


@pytest.mark.parametrize("platform", PLATFORMS)
@fuzz_settings(factor=2)
@given(data=st.data())
def test_mutated_payloads_signed_correctly(
    ingest: Ingest, platform: str, data: st.DataObject
) -> None:
    fixture = data.draw(fixtures(platform))
    body = data.draw(mutated(fixture))
    post(ingest, r.request(ingest.adapter(platform), fixture, body, datetime.now(UTC)))


@pytest.mark.parametrize("platform", PLATFORMS)
@fuzz_settings()
@given(data=st.data())
def test_raw_bytes_signed_correctly(ingest: Ingest, platform: str, data: st.DataObject) -> None:
    fixture = data.draw(fixtures(platform))
    body = data.draw(p.raw_body(fixture.body))
    response = post(ingest, r.request(ingest.adapter(platform), fixture, body, datetime.now(UTC)))

    if len(body) > MAX_BODY:
        assert response.status_code == 413


@pytest.mark.parametrize("platform", PLATFORMS)
@fuzz_settings()
@given(data=st.data())
def test_hostile_headers(ingest: Ingest, platform: str, data: st.DataObject) -> None:
    adapter = ingest.adapter(platform)
    fixture = data.draw(fixtures(platform))
    body = fixture.body if data.draw(st.booleans()) else data.draw(mutated(fixture))
    now = datetime.now(UTC)
    headers = data.draw(r.hostile_headers(fixture, adapter.signature_header, body, now))
    post(ingest, r.Request(h.url_of(fixture, adapter.path), body, headers))


@pytest.mark.parametrize("platform", PLATFORMS)
@fuzz_settings(factor=0.5)
@given(data=st.data())
def test_odd_routes_and_queries(ingest: Ingest, platform: str, data: st.DataObject) -> None:
    adapter = ingest.adapter(platform)
    fixture = data.draw(fixtures(platform))
    request = r.request(adapter, fixture, fixture.body, datetime.now(UTC))
    if fixture.path_params:
        source = data.draw(r.SOURCES)
        request = r.Request(
            h.url_of(fixture, adapter.path).rsplit("/", 1)[0] + "/" + quote(source, safe=""),
            request.body,
            request.headers,
        )
    query = data.draw(st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=4))
    post(ingest, r.Request(request.path, request.body, request.headers, query))


HANDSHAKE_KEYS = (
    "hub.mode",
    "hub.challenge",
    "hub.verify_token",
    "hub.topic",
    "hub.lease_seconds",
    "crc_token",
    "nonce",
)
HANDSHAKE_VALUES = st.sampled_from(
    [
        "subscribe",
        "unsubscribe",
        "denied",
        h.VERIFY_TOKEN,
        "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UC1234567890123456789012",
        "9" * 40,
        "x" * 5000,
        "",
    ]
) | st.text(max_size=40)


@pytest.mark.parametrize("platform", PLATFORMS)
@fuzz_settings(factor=0.5)
@given(query=st.dictionaries(st.sampled_from(HANDSHAKE_KEYS), HANDSHAKE_VALUES, max_size=5))
def test_handshakes(ingest: Ingest, platform: str, query: dict[str, str]) -> None:
    fixture = load(platform)[0]
    path = h.url_of(fixture, ingest.adapter(platform).path)
    response = ingest.send("GET", r.Request(path, b"", [], query))

    assert response.status_code < 500
    if response.status_code >= 400:
        assert response.json().get("error") or response.json().get("detail"), response.text


@pytest.mark.parametrize("platform", PLATFORMS)
@fuzz_settings(factor=0.5)
@given(data=st.data())
def test_while_the_bus_is_down_nothing_is_acknowledged(
    ingest: Ingest, platform: str, data: st.DataObject
) -> None:
    fixture = data.draw(fixtures(platform))
    body = fixture.body if data.draw(st.booleans()) else data.draw(mutated(fixture))
    request = r.request(ingest.adapter(platform), fixture, body, datetime.now(UTC))
    ingest.bus.down = True
    try:
        response = post(ingest, request)
    finally:
        ingest.bus.down = False

    assert response.status_code == 503 or 400 <= response.status_code < 500
