"""The webhook route, served in-process by the shared service shell on the memory bus."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from starlette.types import ASGIApp

from services.ingest.api import IngestComponent
from services.ingest.dispatch import WebhookDispatch
from services.ingest.settings import IngestSettings
from services.ingest.signature import sign
from shared.bus import Acked, BusUnavailable, Message
from shared.bus.memory import MemoryBus
from shared.events import Comment, RawWebhook
from shared.runtime import Runtime
from shared.service import service_app
from shared.storage.engine import create_engine
from shared.topics import COMMENT_TOPICS, COMMENTS_PRIORITY, COMMENTS_RAW
from tests.unit import factories as f

OLD, NEW = "old-secret", "new-secret"
LIMIT = 1024
URL = "/webhooks/generic/forum"
VALID: dict[str, Any] = {
    "id": "c-1",
    "text": "I want to kill myself",
    "author": {"id": "u-1", "name": "Ana"},
    "post_id": "p-1",
}
BODY = json.dumps(VALID).encode()


@dataclass
class Ingest:
    app: FastAPI
    client: httpx.AsyncClient
    bus: MemoryBus
    registry: CollectorRegistry

    def published(self) -> tuple[int, int]:
        comments = sum(len(self.bus.records(topic)) for topic in COMMENT_TOPICS)
        return len(self.bus.records(COMMENTS_RAW)), comments

    def rejected(self, outcome: str) -> float | None:
        return self.registry.get_sample_value(
            "vigie_ingest_webhooks_total", {"platform": "generic", "outcome": outcome}
        )


@asynccontextmanager
async def serve(
    tmp_path: Path,
    *,
    bus: MemoryBus | None = None,
    secret: str | None = f"{OLD},{NEW}",
    dispatch: bool = True,
) -> AsyncIterator[Ingest]:
    bus = bus or MemoryBus()
    runtime = Runtime(
        bus=bus,
        engine=create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}"),
        clock=lambda: f.NOW,
    )
    settings = IngestSettings(
        generic_webhook_secret=SecretStr(secret) if secret is not None else None,
        max_body_bytes=LIMIT,
    )

    async def open_runtime() -> Runtime:
        return runtime

    component = IngestComponent(settings)
    app = service_app(title="ingest under test", open_runtime=open_runtime, components=[component])
    # As the ingest process serves it: webhook POSTs answered in front of the framework.
    asgi: ASGIApp = WebhookDispatch(app, component=component) if dispatch else app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
            yield Ingest(app, client, bus, runtime.registry)


@pytest.fixture(params=[True, False], ids=["dispatch", "framework-route"])
async def ingest(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Ingest]:
    """Both ways a webhook POST can be served (the direct dispatch in the ingest process, the
    documented FastAPI route in the embedded mode) must behave the same."""
    async with serve(tmp_path, dispatch=request.param) as running:
        yield running


def signed(body: bytes, secret: str = OLD, **extra: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-vigie-signature": sign(secret.encode(), body),
        **extra,
    }


async def test_a_signed_comment_is_accepted_and_published_once(ingest: Ingest) -> None:
    response = await ingest.client.post(
        URL,
        content=BODY,
        headers=signed(BODY, **{"x-vigie-delivery": "dlv-1", "authorization": "Bearer t0ken"}),
    )

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "accepted"
    assert ingest.published() == (1, 1)

    # A crisis comment takes the priority lane.
    (normalized,) = ingest.bus.records(COMMENTS_PRIORITY)
    comment = Comment.model_validate_json(normalized.value)
    assert str(comment.event_id) == answer["event_id"]
    assert comment.trace_id == answer["trace_id"]
    assert comment.comment_id == "forum:c-1"
    assert comment.text == VALID["text"]
    assert comment.received_at == f.NOW
    assert comment.delivery_id == "dlv-1"
    assert normalized.key == b"generic:forum:c-1"
    assert normalized.header("trace_id") == answer["trace_id"].encode()
    assert normalized.header("event_type") == b"Comment"

    (raw_record,) = ingest.bus.records(COMMENTS_RAW)
    raw = RawWebhook.model_validate_json(raw_record.value)
    assert base64.b64decode(raw.body) == BODY
    assert raw.trace_id == answer["trace_id"]
    assert (raw.platform, raw.source, raw.delivery_id) == ("generic", "forum", "dlv-1")
    assert raw_record.key == b"generic:dlv-1"
    assert raw.headers["x-vigie-signature"] == sign(OLD.encode(), BODY)
    assert "authorization" not in raw.headers  # credentials are never archived
    assert ingest.rejected("accepted") == 1


@pytest.mark.parametrize("secret", [OLD, NEW], ids=["old-secret", "new-secret"])
async def test_either_secret_is_accepted_during_a_rotation(ingest: Ingest, secret: str) -> None:
    response = await ingest.client.post(URL, content=BODY, headers=signed(BODY, secret))

    assert response.status_code == 202
    assert ingest.published() == (1, 1)


async def test_a_redelivered_webhook_keeps_its_event_id(ingest: Ingest) -> None:
    first = await ingest.client.post(URL, content=BODY, headers=signed(BODY))
    again = await ingest.client.post(URL, content=BODY, headers=signed(BODY))

    assert first.json()["event_id"] == again.json()["event_id"]
    assert first.json()["trace_id"] != again.json()["trace_id"]
    raws = [RawWebhook.model_validate_json(r.value) for r in ingest.bus.records(COMMENTS_RAW)]
    # Without X-Vigie-Delivery the delivery id is derived from the body.
    assert raws[0].delivery_id == raws[1].delivery_id
    assert raws[0].event_id == raws[1].event_id


MISSING_POST_ID = json.dumps({k: v for k, v in VALID.items() if k != "post_id"}).encode()
OVERSIZED = json.dumps({**VALID, "text": "x" * LIMIT}).encode()


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "outcome", "says"),
    [
        (
            URL,
            BODY,
            {"content-type": "application/json", "x-vigie-signature": sign(b"other", BODY)},
            403,
            "signature_mismatch",
            "signature does not match",
        ),
        (
            URL,
            BODY,
            {"content-type": "application/json"},
            401,
            "signature_missing",
            "missing X-Vigie-Signature",
        ),
        (
            URL,
            BODY,
            {"content-type": "application/json", "x-vigie-signature": "sha256=nothex"},
            401,
            "signature_malformed",
            "X-Vigie-Signature header is malformed",
        ),
        (
            URL,
            BODY,
            {"content-type": "application/json", "x-vigie-signature": "hmac " + "0" * 64},
            401,
            "signature_malformed",
            "X-Vigie-Signature header is malformed",
        ),
        (URL, OVERSIZED, signed(OVERSIZED), 413, "too_large", f"larger than {LIMIT} bytes"),
        (
            URL,
            BODY,
            {**signed(BODY), "content-type": "text/plain"},
            415,
            "bad_content_type",
            "application/json",
        ),
        (
            "/webhooks/generic/Bad.Source",
            BODY,
            signed(BODY),
            404,
            "bad_source",
            "source names",
        ),
        (
            URL,
            BODY,
            signed(BODY, **{"x-vigie-delivery": "not/allowed"}),
            400,
            "bad_delivery",
            "X-Vigie-Delivery",
        ),
    ],
    ids=[
        "bad-signature",
        "missing-signature",
        "malformed-signature",
        "wrong-signature-scheme",
        "oversized",
        "wrong-content-type",
        "bad-source-name",
        "bad-delivery-id",
    ],
)
async def test_a_rejected_webhook_publishes_nothing(
    ingest: Ingest,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    outcome: str,
    says: str,
) -> None:
    response = await ingest.client.post(path, content=body, headers=headers)

    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    assert ingest.published() == (0, 0)
    assert ingest.rejected(outcome) == 1
    assert ingest.rejected("accepted") is None


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (MISSING_POST_ID, 422, "post_id"),
    ],
    ids=["invalid-json", "not-an-object", "missing-field"],
)
async def test_a_verified_unreadable_body_is_archived_but_never_a_comment(
    ingest: Ingest, body: bytes, status: int, says: str
) -> None:
    response = await ingest.client.post(URL, content=body, headers=signed(body))

    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    assert ingest.published() == (1, 0)
    (record,) = ingest.bus.records(COMMENTS_RAW)
    raw = RawWebhook.model_validate_json(record.value)
    assert raw.outcome == "invalid_body"
    assert base64.b64decode(raw.body) == body
    assert ingest.rejected("invalid_body") == 1


async def test_a_missing_field_is_named_in_the_answer(ingest: Ingest) -> None:
    response = await ingest.client.post(
        URL, content=MISSING_POST_ID, headers=signed(MISSING_POST_ID)
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["fields"]] == ["post_id"]


async def test_an_oversized_streamed_body_without_length_is_refused(ingest: Ingest) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * 400

    response = await ingest.client.post(
        URL, content=chunks(), headers={**signed(b""), "content-type": "application/json"}
    )

    assert response.status_code == 413
    assert ingest.published() == (0, 0)


async def test_a_charset_in_the_content_type_is_accepted(ingest: Ingest) -> None:
    headers = {**signed(BODY), "content-type": "Application/JSON; charset=utf-8"}

    response = await ingest.client.post(URL, content=BODY, headers=headers)

    assert response.status_code == 202


async def test_a_source_name_with_a_trailing_newline_is_refused(ingest: Ingest) -> None:
    response = await ingest.client.post(
        "/webhooks/generic/forum%0A", content=BODY, headers=signed(BODY)
    )

    assert response.status_code == 404
    assert ingest.published() == (0, 0)


async def test_the_longest_documented_ids_do_not_crash_the_route(ingest: Ingest) -> None:
    body = json.dumps({**VALID, "id": "c" * 200}).encode()

    response = await ingest.client.post(
        "/webhooks/generic/" + "s" * 64, content=body, headers=signed(body)
    )

    assert response.status_code in (202, 422)


async def test_no_configured_secret_answers_503_and_publishes_nothing(tmp_path: Path) -> None:
    async with serve(tmp_path, secret=None) as ingest:
        response = await ingest.client.post(URL, content=BODY, headers=signed(BODY))

        assert response.status_code == 503
        assert ingest.published() == (0, 0)


class UnavailableBus(MemoryBus):
    async def publish(self, messages: Sequence[Message], *, on_acked: Acked | None = None) -> None:
        if any(m.topic in (COMMENTS_RAW, *COMMENT_TOPICS) for m in messages):
            raise BusUnavailable("no acknowledgement")
        await super().publish(messages, on_acked=on_acked)


async def test_an_unacknowledged_publish_answers_503_so_the_platform_retries(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path, bus=UnavailableBus()) as ingest:
        response = await ingest.client.post(URL, content=BODY, headers=signed(BODY))

        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert ingest.published() == (0, 0)
        assert ingest.rejected("bus_unavailable") == 1


class BrokenBus(MemoryBus):
    async def publish(self, messages: Sequence[Message], *, on_acked: Acked | None = None) -> None:
        if any(m.topic == COMMENTS_RAW for m in messages):
            raise RuntimeError("a bug, not an unavailable broker")
        await super().publish(messages, on_acked=on_acked)


async def test_an_unexpected_failure_in_front_of_the_framework_answers_500_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(tmp_path, bus=BrokenBus()) as ingest:
        response = await ingest.client.post(URL, content=BODY, headers=signed(BODY))

        assert response.status_code == 500
        assert response.json() == {"error": "internal error"}
        assert ingest.published() == (0, 0)
    assert "webhook handling failed" in caplog.messages


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/webhooks/generic/forum/", "/webhooks/generic/forum"),
        ("/webhooks/generic/a%2F?x=1", "/webhooks/generic/a?x=1"),  # an escaped slash too
        ("/webhooks/meta/", "/webhooks/meta"),
        ("/webhooks/generic/%C4%80%1F/", "/webhooks/generic/%C4%80%1F"),  # escaped again
    ],
)
async def test_a_post_with_a_trailing_slash_is_redirected_with_a_reason(
    tmp_path: Path, path: str, location: str
) -> None:
    async with serve(tmp_path) as ingest:
        response = await ingest.client.post(path, content=BODY, headers=signed(BODY))

        assert response.status_code == 307
        assert response.headers["location"] == location
        assert response.json()["error"] == "webhook paths have no trailing slash"
        assert ingest.published() == (0, 0)


async def test_health_and_readiness(ingest: Ingest) -> None:
    assert (await ingest.client.get("/healthz")).json() == {"status": "ok"}

    ready = await ingest.client.get("/readyz")

    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "checks": {"broker": True, "database": True, "ingest": True},
    }


def test_openapi_documents_the_generic_webhook_body(tmp_path: Path) -> None:
    settings = IngestSettings(generic_webhook_secret=SecretStr(OLD))

    async def no_runtime() -> Runtime:
        raise AssertionError("the schema needs no runtime")

    app = service_app(title="t", open_runtime=no_runtime, components=[IngestComponent(settings)])

    operation = app.openapi()["paths"]["/webhooks/generic/{source}"]["post"]
    body = operation["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert {"id", "text", "author", "post_id"} <= set(schema["required"])
    assert set(schema["properties"]) >= {"id", "text", "author", "post_id", "parent_id"}
    assert schema["properties"]["author"]["required"] == ["id"]
    assert {"202", "401", "403", "404", "413", "415", "422", "503"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"]] == ["source"]


async def test_a_webhook_before_start_up_is_refused_with_503() -> None:
    settings = IngestSettings(generic_webhook_secret=SecretStr(OLD))

    async def no_runtime() -> Runtime:
        raise AssertionError("not started in this test")

    app = service_app(title="t", open_runtime=no_runtime, components=[IngestComponent(settings)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
        response = await client.post(URL, content=BODY, headers=signed(BODY))
        ready = await client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert ready.status_code == 503
