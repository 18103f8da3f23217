"""Sending one webhook with retries: backoff with jitter, ``Retry-After`` honoured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from services.notifier import webhook
from services.notifier.metrics import NotifierMetrics
from services.notifier.retry import backoff_s, recoverable_status, retry_after_s
from shared.events import Action
from shared.runtime import Clock


@dataclass(frozen=True, slots=True)
class SendOutcome:
    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None


class WebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        secrets: Sequence[bytes],
        console_url: str,
        attempts: int,
        backoff_base_s: float,
        clock: Clock,
        metrics: NotifierMetrics,
    ) -> None:
        self._client = client
        self._secrets = tuple(secrets)
        self._console_url = console_url
        self._attempts = attempts
        self._backoff = backoff_base_s
        self._clock = clock
        self._metrics = metrics

    async def send(self, action: Action) -> SendOutcome:
        body = webhook.encode(webhook.payload(action, console_url=self._console_url))
        channel = action.receiver.channel.value
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self._attempts + 1):
            now = self._clock()
            headers = webhook.headers(self._secrets, int(now.timestamp()), body, action)
            started = time.perf_counter()
            wait: float | None = None
            try:
                response = await self._client.post(
                    action.receiver.url, content=body, headers=headers
                )
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}"
                self._metrics.attempts.labels(channel, "retryable").inc()
            else:
                status = response.status_code
                self._metrics.send_seconds.labels(channel).observe(time.perf_counter() - started)
                if 200 <= status < 300:
                    self._metrics.attempts.labels(channel, "ok").inc()
                    return SendOutcome(True, attempt, status, None)
                error = f"HTTP {status}"
                if not recoverable_status(status):
                    self._metrics.attempts.labels(channel, "permanent").inc()
                    return SendOutcome(False, attempt, status, error)
                self._metrics.attempts.labels(channel, "retryable").inc()
                wait = retry_after_s(response.headers.get("retry-after"), now=now)
            if attempt < self._attempts:
                delay = backoff_s(attempt, base=self._backoff)
                await asyncio.sleep(min(max(delay, wait or 0.0), 60.0))
        return SendOutcome(False, self._attempts, status, error)
