"""Delivering one job through its channel: rate limit, breaker, retries with backoff.

A job is one action, or several actions for one e-mail receiver sent as a digest. The loop
retries recoverable failures with exponential backoff and full jitter, waiting at least
what the provider's ``Retry-After`` asks (capped), and stops at the first permanent one.
Time and sleeping are injected, so tests never wait.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.notifier.attempt import Attempt
from services.notifier.limits import Limits
from services.notifier.metrics import NotifierMetrics
from services.notifier.retry import backoff_s
from shared.events import Action, Channel

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Job:
    actions: tuple[Action, ...]
    # What the channel called the pages this job settles (Slack ``channel:ts``), if any.
    references: tuple[str, ...] = ()
    # A digest of held pages: its idempotency key (the e-mail's Message-ID derives from it).
    digest: str | None = None

    @property
    def action(self) -> Action:
        return self.actions[0]

    @property
    def channel(self) -> Channel:
        return self.action.receiver.channel


class Sender(Protocol):
    """One channel's shell: one attempt at sending a job, never raising for the provider."""

    def idempotent(self, action: Action) -> bool:
        """True when resending the same action cannot reach a person twice (the provider
        deduplicates by our key, or the operation sets a state)."""

    def key(self, action: Action) -> str:
        """What rate limits and breakers count by: the receiver's destination."""

    async def send(self, job: Job, now: datetime) -> Attempt: ...


@dataclass(frozen=True, slots=True)
class Report:
    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None
    reference: str | None = None


class Deliverer:
    def __init__(
        self,
        *,
        attempts: int,
        backoff_base_s: float,
        max_wait_s: float,
        limits: Limits,
        clock: Callable[[], datetime],
        sleep: Sleep,
        metrics: NotifierMetrics,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._attempts = attempts
        self._backoff = backoff_base_s
        self._max_wait = max_wait_s
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._metrics = metrics
        self._monotonic = monotonic
        self._rng = rng

    async def deliver(self, sender: Sender, job: Job) -> Report:
        channel = job.channel.value
        key = sender.key(job.action)
        breaker = self._limits.breaker(key)
        if not breaker.allow(self._monotonic()):
            self._metrics.attempts.labels(channel, "breaker_open").inc()
            return Report(False, 0, None, "circuit open: the receiver keeps failing")
        last = Attempt(ok=False, error="not attempted")
        number = 0
        for number in range(1, self._attempts + 1):
            wait = self._limits.bucket(key, channel).reserve(self._monotonic())
            if wait > 0:
                await self._sleep(min(wait, self._max_wait))
            started = time.perf_counter()
            last = await sender.send(job, self._clock())
            self._metrics.send_seconds.labels(channel).observe(time.perf_counter() - started)
            result = "ok" if last.ok else "retryable" if last.recoverable else "permanent"
            self._metrics.attempts.labels(channel, result).inc()
            if last.ok or not last.recoverable:
                break
            if number < self._attempts:
                delay = backoff_s(number, base=self._backoff, rng=self._rng)
                await self._sleep(min(max(delay, last.retry_after_s or 0.0), self._max_wait))
        breaker.record(last.ok, self._monotonic())
        return Report(last.ok, number, last.status, last.error, last.reference)


def plan(actions: Sequence[Action], *, digest_threshold: int) -> list[Job]:
    """Group a batch into jobs: e-mail notifications to one receiver become one digest
    once there are ``digest_threshold`` of them; everything else is sent on its own."""
    jobs: list[Job] = []
    storms: dict[str, list[Action]] = {}
    for action in actions:
        if action.receiver.channel is Channel.EMAIL and action.kind.value == "notify":
            storms.setdefault(action.receiver.name, []).append(action)
        else:
            jobs.append(Job((action,)))
    for group in storms.values():
        if len(group) >= digest_threshold > 1:
            jobs.append(Job(tuple(group)))
        else:
            jobs.extend(Job((a,)) for a in group)
    return jobs
