"""The webhook front door: read bounded bytes -> verify -> normalise -> de-duplicate ->
publish -> answer, the same for every platform adapter.

A webhook is answered 2xx only once its events are acknowledged by the broker; when the
broker does not acknowledge, the answer is 503 so that the platform retries. Every verified
request, accepted or not, is archived on ``vigie.comments.raw.v1`` for audit and replay;
requests that fail verification are only counted.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import ClientDisconnect
from starlette.types import Scope

from services.classifier.screen import comment_topic
from services.ingest.adapters.base import (
    Adapter,
    Context,
    InboundRequest,
    Parsed,
    PayloadError,
    Rejected,
    Verdict,
)
from services.ingest.adapters.registry import build_adapters
from services.ingest.dedup import SeenStore
from services.ingest.metrics import IngestMetrics
from services.ingest.settings import IngestSettings, SilenceAfter
from shared.bus import Bus, BusUnavailable, Message
from shared.codec import to_message
from shared.events import Comment, Event, RawWebhook, SourceChanged, derive_id
from shared.logs import trace
from shared.metrics import age_seconds, build_info, comment_time
from shared.runtime import Clock, Runtime
from shared.topics import COMMENT_TOPICS, COMMENTS_RAW, SOURCE_CHANGES

log = logging.getLogger(__name__)

_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}\Z")
# Credentials are never archived; signatures are kept (they are not secrets).
_UNARCHIVED_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-forwarded-for"}
)
_VERDICT_ANSWERS = {
    Verdict.MISSING: (401, "missing {header} header", "signature_missing"),
    Verdict.MALFORMED: (401, "{header} header is malformed", "signature_malformed"),
    Verdict.STALE: (403, "signed timestamp is outside the replay window", "signature_stale"),
    Verdict.MISMATCH: (403, "signature does not match", "signature_mismatch"),
}


# What ``JSONResponse`` renders, with one encoder for every answer rather than one per call.
_ANSWER_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def json_answer(content: dict[str, Any], status: int) -> Response:
    """The bytes ``JSONResponse(content, status)`` sends, built for less."""
    body = _ANSWER_ENCODER.encode(content).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json")


def problem(status: int, reason: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"error": reason, **extra}, status_code=status, headers=headers)


class BodyTooLarge(Exception):
    pass


async def read_bounded(request: Request, headers: dict[str, str], limit: int) -> bytes:
    """The body, read straight from the ASGI messages (it is read once, here)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] != "http.request":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def request_headers(scope: Scope) -> dict[str, str]:
    """Header names to values as ``dict(request.headers)`` gives them (first value wins),
    without building Starlette's ``Headers`` view first."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key not in headers:
            headers[key] = value.decode("latin-1")
    return headers


def archived_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in _UNARCHIVED_HEADERS}


E = TypeVar("E", bound=Event)


def fresh_events(events: Sequence[E], seen: set[uuid.UUID]) -> list[E]:
    """Events not yet published, each once even if a delivery repeats it."""
    fresh: list[E] = []
    taken = set(seen)
    for event in events:
        if event.event_id not in taken:
            taken.add(event.event_id)
            fresh.append(event)
    return fresh


def outcome_of(parsed: Parsed, published: int, duplicates: int) -> str:
    if published:
        return "accepted"
    if duplicates:
        return "duplicate"
    if parsed.reply is not None:
        return "handshake"
    return "not_comment"


@dataclasses.dataclass
class _Running:
    bus: Bus
    metrics: IngestMetrics
    clock: Clock
    seen: SeenStore
    silence_after: SilenceAfter
    # The expected interval last set per platform: the gauge is set only when it changes.
    intervals: dict[str, float] = dataclasses.field(default_factory=dict)


class IngestComponent:
    """The ingest service's part: one webhook route per platform, publishing onto the bus."""

    name = "ingest"

    def __init__(self, settings: IngestSettings, adapters: Sequence[Adapter] | None = None) -> None:
        self._settings = settings
        self._adapters = list(adapters) if adapters is not None else build_adapters(settings)
        self._running: _Running | None = None

    @property
    def adapters(self) -> list[Adapter]:
        return list(self._adapters)

    async def start(self, runtime: Runtime) -> None:
        await runtime.bus.ensure_topics([COMMENTS_RAW, *COMMENT_TOPICS, SOURCE_CHANGES])
        seen = SeenStore(runtime.engine, runtime.clock, cache_size=self._settings.dedup_cache_size)
        await seen.start()
        metrics = IngestMetrics(runtime.registry)
        silence_after = self._settings.silence_after
        for platform in {a.platform for a in self._adapters} | set(silence_after.platforms):
            metrics.expected_interval.labels(platform).set(silence_after.seconds(platform))
        build_info(runtime.registry, self.name)
        self._running = _Running(runtime.bus, metrics, runtime.clock, seen, silence_after)

    async def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            await running.seen.stop()

    def ready(self) -> bool:
        return self._running is not None

    async def flush(self) -> None:
        """Write the pending de-duplication records now (they are written in the background)."""
        if self._running is not None:
            await self._running.seen.flush()

    def routes(self) -> APIRouter:
        router = APIRouter(tags=["webhooks"])
        for adapter in self._adapters:
            self._add_routes(router, adapter)
        return router

    def _add_routes(self, router: APIRouter, adapter: Adapter) -> None:
        async def receive(request: Request) -> Response:
            return await self.receive(adapter, request)

        async def handshake(request: Request) -> Response:
            return await self.handshake(adapter, request)

        doc = (type(adapter).__doc__ or "").strip()
        router.add_api_route(
            adapter.path,
            receive,
            methods=["POST"],
            status_code=adapter.accepted_status,
            summary=f"Receive {adapter.platform} webhooks.",
            description=doc
            + "\n\nAnswers 2xx once the events are durably on Kafka; 503 when the broker is "
            "unavailable (retry later).",
            responses=_POST_RESPONSES,
            openapi_extra=getattr(adapter, "openapi_extra", None),
            name=f"{adapter.platform}_webhook",
        )
        router.add_api_route(
            adapter.path,
            handshake,
            methods=["GET"],
            summary=f"Answer {adapter.platform}'s verification handshake.",
            name=f"{adapter.platform}_handshake",
        )

    async def handshake(self, adapter: Adapter, request: Request) -> Response:
        running = self._running
        if running is None:
            return problem(503, "ingest is starting")
        inbound = InboundRequest(
            body=b"",
            headers=dict(request.headers),
            query=dict(request.query_params),
            path_params=dict(request.path_params),
        )
        try:
            reply = adapter.handshake(inbound)
        except Rejected as rejected:
            running.metrics.webhooks.labels(adapter.platform, rejected.outcome).inc()
            return problem(rejected.status, rejected.reason)
        running.metrics.webhooks.labels(adapter.platform, "handshake").inc()
        return Response(reply.body, status_code=reply.status, media_type=reply.media_type)

    async def receive(self, adapter: Adapter, request: Request) -> Response:
        running = self._running
        if running is None:
            return problem(503, "ingest is starting")
        started = time.perf_counter()
        platform = adapter.platform
        metrics = running.metrics

        def reject(status: int, reason: str, outcome: str, **extra: Any) -> JSONResponse:
            metrics.webhook(platform, outcome).inc()
            return problem(status, reason, **extra)

        scope = request.scope
        headers = request_headers(scope)
        query = dict(request.query_params) if scope.get("query_string") else {}
        path_params: dict[str, str] = dict(scope.get("path_params", {}))
        inbound = InboundRequest(b"", headers, query, path_params)
        try:
            source = adapter.route_source(inbound)
            if not adapter.configured():
                return reject(503, f"{adapter.secret_setting} is not configured", "no_secret")
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type not in adapter.content_types:
                accepted = ", ".join(adapter.content_types)
                return reject(415, f"content type must be {accepted}", "bad_content_type")
            try:
                body = await read_bounded(request, headers, self._settings.max_body_bytes)
            except BodyTooLarge:
                limit = self._settings.max_body_bytes
                return reject(413, f"body is larger than {limit} bytes", "too_large")
            except ClientDisconnect:
                # Gone (or cut off by the server's body deadline) before the body was in.
                return reject(400, "the body did not arrive in full", "incomplete_body")
            inbound = InboundRequest(body, headers, query, path_params)
            verdict = adapter.verify(inbound, running.clock())
            if verdict is not Verdict.VALID:
                status, reason, outcome = _VERDICT_ANSWERS[verdict]
                return reject(status, reason.format(header=adapter.signature_header), outcome)
            delivery_id = adapter.delivery_id(inbound)
        except Rejected as rejected:
            return reject(rejected.status, rejected.reason, rejected.outcome)
        if delivery_id is None or not _DELIVERY_ID.match(delivery_id):
            delivery_id = hashlib.sha256(body).hexdigest()[:32]

        trace_id = uuid.uuid4().hex
        with trace(trace_id):
            return await self._normalise_and_publish(
                running, adapter, inbound, source, delivery_id, trace_id, started
            )

    async def _normalise_and_publish(
        self,
        running: _Running,
        adapter: Adapter,
        inbound: InboundRequest,
        source: str,
        delivery_id: str,
        trace_id: str,
        started: float,
    ) -> Response:
        platform, metrics = adapter.platform, running.metrics
        received_at = running.clock()
        context = Context(received_at=received_at, delivery_id=delivery_id, trace_id=trace_id)
        failure: PayloadError | None = None
        failed_outcome = "invalid_body"
        try:
            parsed = adapter.parse(inbound, context)
        except PayloadError as exc:
            failure, parsed = exc, Parsed()
        except Exception:
            # A parser bug must not make the platform retry forever: the request is archived
            # (replayable once fixed), answered 400 and counted for an alert.
            log.exception("adapter failed to parse a verified request")
            failure, parsed = PayloadError("body could not be normalised"), Parsed()
            failed_outcome = "adapter_error"

        seen: set[uuid.UUID] = set()
        if parsed.comments or parsed.changes:
            try:
                ids = [e.event_id for e in (*parsed.comments, *parsed.changes)]
                seen = await running.seen.seen(ids)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("de-duplication unavailable, publishing anyway: %s", exc)
                metrics.dedup_unavailable.labels(platform).inc()
        fresh = fresh_events(parsed.comments, seen)
        changes = fresh_events(parsed.changes, seen)
        duplicates = len(parsed.comments) + len(parsed.changes) - len(fresh) - len(changes)
        outcome = (
            failed_outcome if failure else outcome_of(parsed, len(fresh) + len(changes), duplicates)
        )

        raw = RawWebhook(
            event_id=derive_id("raw", platform, source, delivery_id),
            trace_id=trace_id,
            occurred_at=received_at,
            platform=platform,
            source=source,
            delivery_id=delivery_id,
            headers=archived_headers(inbound.headers),
            body=base64.b64encode(inbound.body),
            path_params=dict(inbound.path_params),
            outcome=outcome,
        )
        messages: list[Message] = [to_message(COMMENTS_RAW, raw, key=f"{platform}:{delivery_id}")]
        messages += [to_message(comment_topic(c), c, key=c.partition_key) for c in fresh]
        messages += [
            to_message(SOURCE_CHANGES, c, key=f"{c.platform}:{c.item_id}") for c in changes
        ]
        published = [(c.event_id, c.platform) for c in fresh]
        published += [(c.event_id, c.platform) for c in changes]
        try:
            # Remembered once acknowledged, even if that comes after a 503 was answered.
            await running.bus.publish(messages, on_acked=lambda: running.seen.remember(published))
        except BusUnavailable as exc:
            log.warning("webhook not acknowledged by the broker: %s", exc)
            metrics.webhook(platform, "bus_unavailable").inc()
            return problem(503, "event bus unavailable, retry later")

        metrics.webhook(platform, outcome).inc()
        for message in messages:
            metrics.published_to(message.topic).inc()
        if failure is not None:
            return problem(failure.status, failure.reason, fields=failure.errors)
        self._count(running, platform, parsed, fresh, changes, duplicates)
        metrics.ack(platform).observe(time.perf_counter() - started)
        if parsed.reply is not None:
            reply = parsed.reply
            return Response(reply.body, status_code=reply.status, media_type=reply.media_type)
        answer: dict[str, Any] = {
            "status": outcome,
            "comments": len(fresh),
            "changes": len(changes),
            "duplicates": duplicates,
            "ignored": len(parsed.ignored),
            "trace_id": trace_id,
        }
        if len(parsed.comments) == 1:
            answer["event_id"] = str(parsed.comments[0].event_id)
        return json_answer(answer, adapter.accepted_status)

    @staticmethod
    def _count(
        running: _Running,
        platform: str,
        parsed: Parsed,
        fresh: list[Comment],
        changes: list[SourceChanged],
        duplicates: int,
    ) -> None:
        metrics = running.metrics
        now, at = time.time(), running.clock()
        metrics.last_event_of(platform).set(now)
        for comment in fresh:
            metrics.comment(comment.platform, comment.kind.value).inc()
            happened = comment_time(comment)
            if happened is not None:
                metrics.ingest_age.observe(age_seconds(happened, at))
            expected = running.silence_after.seconds(comment.platform, adapter=platform)
            if running.intervals.get(comment.platform) != expected:
                metrics.expected_interval_of(comment.platform).set(expected)
                running.intervals[comment.platform] = expected
            label = metrics.source_label(comment.platform, comment.source)
            metrics.source_last_event_of(comment.platform, label).set(now)
        for change in changes:
            label = metrics.source_label(change.platform, change.source)
            metrics.source_last_event_of(change.platform, label).set(now)
        for reason in parsed.ignored:
            metrics.ignored.labels(platform, reason).inc()
        if duplicates:
            metrics.duplicates.labels(platform).inc(duplicates)
        if fresh:
            log.info(
                "comments accepted",
                extra={"fields": {"platform": platform, "comments": len(fresh)}},
            )


_POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Body cannot be read as this platform's payload; the reason is given."},
    401: {"description": "Signature missing or malformed."},
    403: {"description": "Signature does not match, or its timestamp is too old."},
    404: {"description": "Invalid source name."},
    413: {"description": "Body larger than `VIGIE_MAX_BODY_BYTES`."},
    415: {"description": "Content type not accepted."},
    422: {"description": "Body is not a valid comment; fields are named."},
    503: {"description": "Broker unavailable or secret not configured; retry later."},
}
