"""The webhook front door: read bounded bytes -> verify -> normalise -> publish -> answer.

A webhook is answered 202 only once its events are acknowledged by the broker; when the
broker does not acknowledge, the answer is 503 so that the platform retries.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.ingest import generic
from services.ingest.metrics import IngestMetrics
from services.ingest.settings import IngestSettings
from services.ingest.signature import SignatureVerdict, verify
from shared.bus import Bus, BusUnavailable
from shared.codec import to_message
from shared.events import RawWebhook, derive_id
from shared.logs import trace
from shared.runtime import Clock, Runtime
from shared.settings import secret_values
from shared.topics import COMMENTS_NORMALIZED, COMMENTS_RAW

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-vigie-signature"
DELIVERY_HEADER = "x-vigie-delivery"
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
# Headers worth keeping in the raw archive; credentials are never archived.
_ARCHIVED_HEADERS = ("content-type", "user-agent", SIGNATURE_HEADER, DELIVERY_HEADER)


def problem(status: int, reason: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"error": reason, **extra}, status_code=status, headers=headers)


class BodyTooLarge(Exception):
    pass


async def read_bounded(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class IngestComponent:
    """The ingest service's part: webhook routes publishing onto the bus."""

    name = "ingest"

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        self._secrets = secret_values(settings.generic_webhook_secret)
        self._bus: Bus | None = None
        self._metrics: IngestMetrics | None = None
        self._clock: Clock | None = None

    async def start(self, runtime: Runtime) -> None:
        await runtime.bus.ensure_topics([COMMENTS_RAW, COMMENTS_NORMALIZED])
        self._metrics = IngestMetrics(runtime.registry)
        self._clock = runtime.clock
        self._bus = runtime.bus

    async def stop(self) -> None:
        self._bus = None

    def ready(self) -> bool:
        return self._bus is not None

    def routes(self) -> APIRouter:
        router = APIRouter(tags=["webhooks"])
        router.add_api_route(
            "/webhooks/generic/{source}",
            self.generic_webhook,
            methods=["POST"],
            status_code=202,
            summary="Receive one comment from a generic signed JSON source.",
            description=(
                "The body is signed with HMAC-SHA256 under `VIGIE_GENERIC_WEBHOOK_SECRET`: "
                "header `X-Vigie-Signature: sha256=<hex of the HMAC of the raw body>`. "
                "An optional `X-Vigie-Delivery` header names the delivery (default: the body's "
                "hash). Answers 202 once the comment is durably on Kafka; 503 when the broker "
                "is unavailable (retry later)."
            ),
            responses={
                400: {"description": "Body is not valid JSON."},
                401: {"description": "Signature missing or malformed."},
                403: {"description": "Signature does not match."},
                404: {"description": "Invalid source name."},
                413: {"description": "Body larger than `VIGIE_MAX_BODY_BYTES`."},
                415: {"description": "Content type is not application/json."},
                422: {"description": "Body is not a valid comment; fields are named."},
                503: {"description": "Broker or secret unavailable; retry later."},
            },
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": generic.openapi_schema()}},
                }
            },
        )
        return router

    async def generic_webhook(self, source: str, request: Request) -> JSONResponse:
        bus, metrics, clock = self._bus, self._metrics, self._clock
        if bus is None or metrics is None or clock is None:
            return problem(503, "ingest is starting")
        started = time.perf_counter()
        platform = generic.PLATFORM

        def reject(status: int, reason: str, outcome: str, **extra: Any) -> JSONResponse:
            metrics.webhooks.labels(platform, outcome).inc()
            return problem(status, reason, **extra)

        if not generic.SOURCE_NAME.match(source):
            return reject(404, "source names are 1-64 of a-z, 0-9, '_' and '-'", "bad_source")
        if not self._secrets:
            return reject(503, "VIGIE_GENERIC_WEBHOOK_SECRET is not configured", "no_secret")
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return reject(415, "content type must be application/json", "bad_content_type")
        try:
            body = await read_bounded(request, self._settings.max_body_bytes)
        except BodyTooLarge:
            limit = self._settings.max_body_bytes
            return reject(413, f"body is larger than {limit} bytes", "too_large")
        verdict = verify(request.headers.get(SIGNATURE_HEADER), body, self._secrets)
        if verdict is SignatureVerdict.MISSING:
            return reject(401, "missing X-Vigie-Signature header", "signature_missing")
        if verdict is SignatureVerdict.MALFORMED:
            return reject(401, "X-Vigie-Signature must be sha256=<64 hex>", "signature_malformed")
        if verdict is not SignatureVerdict.VALID:
            return reject(403, "signature does not match", "signature_mismatch")

        delivery_id = request.headers.get(DELIVERY_HEADER) or hashlib.sha256(body).hexdigest()[:32]
        if not _DELIVERY_ID.match(delivery_id):
            return reject(
                400, "X-Vigie-Delivery must be 1-128 of A-Z a-z 0-9 . _ : -", "bad_delivery"
            )
        received_at = clock()
        trace_id = uuid.uuid4().hex
        with trace(trace_id):
            try:
                comment = generic.parse(
                    body,
                    source=source,
                    received_at=received_at,
                    delivery_id=delivery_id,
                    trace_id=trace_id,
                )
            except generic.PayloadError as exc:
                status = 422 if exc.errors else 400
                return reject(status, exc.reason, "invalid_body", fields=exc.errors)
            raw = RawWebhook(
                event_id=derive_id("raw", platform, source, delivery_id),
                trace_id=trace_id,
                occurred_at=received_at,
                platform=platform,
                source=source,
                delivery_id=delivery_id,
                headers={k: v for k, v in request.headers.items() if k in _ARCHIVED_HEADERS},
                body=base64.b64encode(body),
            )
            try:
                await bus.publish(
                    [
                        to_message(COMMENTS_RAW, raw, key=f"{platform}:{delivery_id}"),
                        to_message(COMMENTS_NORMALIZED, comment, key=comment.partition_key),
                    ]
                )
            except BusUnavailable as exc:
                log.warning("webhook not acknowledged by the broker: %s", exc)
                return reject(503, "event bus unavailable, retry later", "bus_unavailable")
            metrics.webhooks.labels(platform, "accepted").inc()
            metrics.ack_seconds.labels(platform).observe(time.perf_counter() - started)
            metrics.last_event.labels(platform).set(time.time())
            log.info("comment accepted", extra={"fields": {"platform": platform, "source": source}})
        return JSONResponse(
            {"status": "accepted", "event_id": str(comment.event_id), "trace_id": trace_id},
            status_code=202,
        )
