"""vigie.actions -> deliveries (once per idempotency key) -> notifications.results."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx

from services.notifier import store
from services.notifier.metrics import NotifierMetrics
from services.notifier.sender import WebhookSender
from services.notifier.settings import NotifierSettings
from shared.bus import Message
from shared.codec import to_message
from shared.events import Action, DeliveryOutcome, DeliveryResult, derive_id
from shared.logs import trace
from shared.runtime import Runtime
from shared.settings import secret_values
from shared.stage import Decoded, dlq_message
from shared.stage_component import StageComponent
from shared.topics import ACTIONS, NOTIFICATION_RESULTS

log = logging.getLogger(__name__)

GROUP = "vigie-notifier"


class MissingSecret(ValueError):
    pass


class NotifierComponent(StageComponent[Action]):
    name = "notifier"
    group = GROUP
    source = ACTIONS
    outputs = (NOTIFICATION_RESULTS,)
    model = Action

    def __init__(self, settings: NotifierSettings) -> None:
        super().__init__(batch_size=settings.notifier_batch_size)
        self._settings = settings
        self._secrets = secret_values(settings.webhook_signing_secret)
        if not self._secrets:
            raise MissingSecret("VIGIE_WEBHOOK_SIGNING_SECRET is required to sign webhooks")
        self._runtime: Runtime | None = None
        self._client: httpx.AsyncClient | None = None
        self._sender: WebhookSender | None = None
        self._metrics: NotifierMetrics | None = None

    async def prepare(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._metrics = NotifierMetrics(runtime.registry)
        self._client = httpx.AsyncClient(
            timeout=self._settings.delivery_timeout_s, follow_redirects=False
        )
        self._sender = WebhookSender(
            self._client,
            secrets=self._secrets,
            console_url=self._settings.console_url,
            attempts=self._settings.delivery_attempts,
            backoff_base_s=self._settings.delivery_backoff_s,
            clock=runtime.clock,
            metrics=self._metrics,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def process(self, batch: Sequence[Decoded[Action]]) -> list[Message]:
        # Every send of the batch finishes before an error is raised: the stage then retries
        # or isolates records while no other send of the same action is still in flight.
        results = await asyncio.gather(
            *(self._deliver(item) for item in batch), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [
            m for messages in results if not isinstance(messages, BaseException) for m in messages
        ]

    async def _deliver(self, item: Decoded[Action]) -> list[Message]:
        assert self._runtime is not None and self._sender is not None and self._metrics
        action, runtime = item.event, self._runtime
        channel = action.receiver.channel.value
        with trace(action.trace_id):
            row = await store.claim(runtime.engine, action, runtime.clock())
            if row.status != store.PENDING:
                # Already delivered or given up on: a redelivered action is not sent again.
                self._metrics.deliveries.labels(channel, "duplicate").inc()
                return [self._result(action, row.status, row.attempts, row.status_code, row.error)]
            outcome = await self._sender.send(action)
            status = store.DELIVERED if outcome.delivered else store.FAILED
            await store.finish(
                runtime.engine,
                action,
                status=status,
                attempts=outcome.attempts,
                status_code=outcome.status_code,
                error=outcome.error,
                now=runtime.clock(),
            )
            self._metrics.deliveries.labels(channel, status).inc()
            if outcome.delivered:
                log.info("delivered", extra={"fields": {"receiver": action.receiver.name}})
            else:
                log.warning(
                    "delivery failed",
                    extra={"fields": {"receiver": action.receiver.name, "error": outcome.error}},
                )
            messages = [
                self._result(action, status, outcome.attempts, outcome.status_code, outcome.error)
            ]
            if not outcome.delivered:
                reason = f"delivery failed after {outcome.attempts} attempt(s): {outcome.error}"
                messages.append(dlq_message(item.record, reason, "notifier"))
            return messages

    @staticmethod
    def _result(
        action: Action, status: str, attempts: int, status_code: int | None, error: str | None
    ) -> Message:
        result = DeliveryResult(
            event_id=derive_id("delivery-result", action.action_id),
            trace_id=action.trace_id,
            occurred_at=action.occurred_at,
            action_id=action.action_id,
            case_id=action.case_id,
            receiver=action.receiver.name,
            channel=action.receiver.channel,
            outcome=DeliveryOutcome.DELIVERED
            if status == store.DELIVERED
            else DeliveryOutcome.FAILED,
            attempts=attempts,
            status_code=status_code,
            error=error,
        )
        return to_message(NOTIFICATION_RESULTS, result, key=action.action_id)
