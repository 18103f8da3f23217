"""vigie.actions -> deliveries (once per idempotency key) -> notifications.results.

For a batch: claim every action's idempotency key (one statement), send what was never
sent, record the outcomes (one statement), then hand the stage the results to publish.
A failed delivery also yields a DLQ record and, when the action names a fallback receiver,
a new action for it (its own idempotency key) on the same topic. A redelivered action
re-emits the same outputs without sending; an action whose send was interrupted is sent
again only if its channel makes a resend harmless, otherwise it is reported in doubt.
A Slack acknowledgement or resolution is sent with the pages recorded for its case and
receiver, which it updates in place. In a storm, non-critical e-mail pages are held
(``held_mail``) and sent later in one digest per receiver and window (``digest_flush``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import httpx

from services.notifier import held_mail, report_mail, slack, store, storm
from services.notifier.delivery import Deliverer, Job, Report, Sender, Sleep
from services.notifier.digest_flush import DigestFlusher
from services.notifier.http1 import Http1Client
from services.notifier.limits import Limits
from services.notifier.metrics import NotifierMetrics
from services.notifier.senders import build_senders
from services.notifier.settings import NotifierSettings
from services.notifier.templates import Style
from shared.bus import Message
from shared.codec import to_message
from shared.events import Action, Channel, DeliveryOutcome, DeliveryResult, derive_id
from shared.logs import trace
from shared.runtime import Runtime
from shared.settings import secret_values
from shared.stage import Decoded, dlq_message
from shared.stage_component import StageComponent
from shared.topics import ACTIONS, ACTIONS_CRITICAL, NOTIFICATION_RESULTS

log = logging.getLogger(__name__)

GROUP = "vigie-notifier"
CRITICAL_GROUP = "vigie-notifier-critical"
OUTCOMES = {
    store.DELIVERED: DeliveryOutcome.DELIVERED,
    store.FAILED: DeliveryOutcome.FAILED,
    store.IN_DOUBT: DeliveryOutcome.IN_DOUBT,
}


class MissingSecret(ValueError):
    pass


def fallback_action(action: Action) -> Action | None:
    """The same action for the fallback receiver, under an idempotency key of its own."""
    if action.fallback is None:
        return None
    action_id = f"{action.action_id}|fallback:{action.fallback.name}"
    return action.model_copy(
        update={
            "event_id": derive_id("action", action_id),
            "action_id": action_id,
            "receiver": action.fallback,
            "fallback": None,
        }
    )


class NotifierComponent(StageComponent[Action]):
    name = "notifier"
    group = GROUP
    source = ACTIONS
    outputs = (NOTIFICATION_RESULTS,)
    model = Action

    def __init__(self, settings: NotifierSettings, *, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(batch_size=settings.notifier_batch_size)
        self._settings = settings
        self._sleep = sleep
        self._secrets = secret_values(settings.webhook_signing_secret)
        if not self._secrets:
            raise MissingSecret("VIGIE_WEBHOOK_SIGNING_SECRET is required to sign webhooks")
        self._runtime: Runtime | None = None
        self._client: httpx.AsyncClient | None = None
        self._webhooks: Http1Client | None = None
        self._senders: dict[str, Sender] = {}
        self._deliverer: Deliverer | None = None
        self._metrics: NotifierMetrics | None = None
        self._ledger: store.Ledger | None = None
        self._flusher: DigestFlusher | None = None
        self._holding = asyncio.Lock()  # on SQLite, in place of PostgreSQL's advisory locks

    async def prepare(self, runtime: Runtime) -> None:
        s = self._settings
        self._runtime = runtime
        self._metrics = NotifierMetrics.for_registry(runtime.registry)
        self._ledger = store.Ledger(runtime.engine)
        await self._ledger.open(runtime.clock())
        self._client = httpx.AsyncClient(
            timeout=s.delivery_timeout_s,
            follow_redirects=False,
            headers={"User-Agent": "vigie-notifier"},
            # httpx's pool scans every connection on each request: a small pool sends faster.
            limits=httpx.Limits(
                max_connections=s.http_connections, max_keepalive_connections=s.http_connections
            ),
        )
        style = Style(
            console_url=s.console_url,
            allow_text=s.notifier_allow_comment_text,
            default_lang=s.notifier_default_lang,
        )
        self._webhooks = Http1Client(
            timeout_s=s.delivery_timeout_s, connections=s.webhook_connections
        )
        senders = build_senders(
            s,
            self._client,
            signing_secrets=self._secrets,
            style=style,
            webhook_client=self._webhooks,
        )
        self._senders = report_mail.with_reports(
            {channel.value: sender for channel, sender in senders.items()}, s
        )
        self._deliverer = Deliverer(
            attempts=s.delivery_attempts,
            backoff_base_s=s.delivery_backoff_s,
            max_wait_s=s.delivery_max_wait_s,
            limits=Limits(
                s.receiver_rate_per_s,
                s.receiver_burst,
                s.breaker_failures,
                s.breaker_cooldown_s,
                channel_rates=s.channel_rates_per_s,
            ),
            clock=runtime.clock,
            sleep=self._sleep,
            metrics=self._metrics,
        )

    async def start(self, runtime: Runtime) -> None:
        await super().start(runtime)
        await runtime.bus.ensure_topics([self.source])  # fallbacks are published there
        if self._digests_across_batches():
            assert self._deliverer is not None and self._metrics is not None
            s = self._settings
            self._flusher = DigestFlusher(
                runtime.engine,
                runtime.bus,
                deliverer=self._deliverer,
                sender=self._senders[Channel.EMAIL.value],
                emit=self._outputs,
                source=self.source,
                clock=runtime.clock,
                metrics=self._metrics,
                lock=self._holding,
                # Longer than any send of a digest can last: retries, their waits, a margin.
                lease=timedelta(
                    seconds=s.delivery_attempts * (s.delivery_timeout_s + s.delivery_max_wait_s)
                    + 60
                ),
                poll_s=s.email_digest_poll_s,
            )
            await self._flusher.start()

    def _digests_across_batches(self) -> bool:
        s = self._settings
        return s.email_digest_window_s > 0 and s.email_digest_threshold > 1

    async def close(self) -> None:
        if self._flusher is not None:
            await self._flusher.stop()
        if self._ledger is not None:
            await self._ledger.close()
        if self._client is not None:
            await self._client.aclose()
        if self._webhooks is not None:
            await self._webhooks.aclose()

    async def process(self, batch: Sequence[Decoded[Action]]) -> list[Message]:
        assert self._runtime is not None and self._deliverer is not None and self._metrics
        assert self._ledger is not None
        runtime = self._runtime
        held = await self._hold(batch)
        actions = {
            item.event.action_id: item.event for item in batch if item.event.action_id not in held
        }
        claims = await self._ledger.claim(
            list(actions.values()), runtime.clock(), resendable=self._resendable
        )
        finished: dict[str, store.Finished] = {}
        writes: list[store.Finished] = []
        fresh: list[Action] = []
        for key, action in actions.items():
            row = claims[key]
            channel = action.receiver.channel.value
            if row is None or (
                row.status in store.INTERRUPTED and self._senders[channel].idempotent(action)
            ):
                fresh.append(action)
            elif row.status in store.INTERRUPTED:
                error = "a send was interrupted; not repeated on a channel that could duplicate it"
                finished[key] = store.Finished(key, store.IN_DOUBT, row.attempts, None, error)
                writes.append(finished[key])
                self._metrics.deliveries.labels(channel, store.IN_DOUBT).inc()
            else:
                finished[key] = store.Finished(
                    key, row.status, row.attempts, row.status_code, row.error, row.reference
                )
                self._metrics.deliveries.labels(channel, "duplicate").inc()
        jobs = await self._with_pages(
            report_mail.plan_jobs(fresh, digest_threshold=self._settings.email_digest_threshold)
        )
        # Every send of the batch finishes before the outcomes are written, so no send of
        # the same action is still in flight when the stage retries or isolates records.
        reports = await asyncio.gather(*(self._send(job) for job in jobs))
        for job, report in zip(jobs, reports, strict=True):
            status = store.DELIVERED if report.delivered else store.FAILED
            for action in job.actions:
                key = action.action_id
                finished[key] = store.Finished(
                    key, status, report.attempts, report.status_code, report.error, report.reference
                )
                writes.append(finished[key])
                self._metrics.deliveries.labels(action.receiver.channel.value, status).inc()
        await self._ledger.finish(writes, runtime.clock())
        messages: list[Message] = []
        for item in batch:
            if item.event.action_id in held:
                continue  # its result is published with its digest
            outcome = finished[item.event.action_id]
            messages.extend(self._outputs(item, outcome))
        return messages

    async def _hold(self, batch: Sequence[Decoded[Action]]) -> set[str]:
        """Record the batch's non-critical e-mail pages; the ids of those held for a digest."""
        if not self._digests_across_batches():
            return set()
        assert self._runtime is not None
        s = self._settings
        pages = [
            item
            for item in batch
            if storm.digestible(item.event, report_route=report_mail.REPORT_ROUTE)
        ]
        if not pages:
            return set()
        window = timedelta(seconds=s.email_digest_window_s)
        now = self._runtime.clock()
        return await held_mail.hold(
            self._runtime.engine,
            pages,
            lambda actions, storms: storm.decide(
                actions, storms, now=now, threshold=s.email_digest_threshold, window=window
            ),
            now,
            lookback=window,
            lock=self._holding,
        )

    def _resendable(self, action: Action) -> bool:
        return self._senders[action.receiver.channel.value].idempotent(action)

    async def _with_pages(self, jobs: list[Job]) -> list[Job]:
        """Slack acknowledgements and resolutions carry the pages they update."""
        assert self._runtime is not None
        settling = {
            (str(job.action.case_id), job.action.receiver.name)
            for job in jobs
            if job.channel is Channel.SLACK and job.action.kind in slack.SETTLING
        }
        if not settling:
            return jobs
        pages = await store.page_references(self._runtime.engine, Channel.SLACK.value, settling)
        return [
            replace(
                job, references=pages.get((str(job.action.case_id), job.action.receiver.name), ())
            )
            if job.channel is Channel.SLACK and job.action.kind in slack.SETTLING
            else job
            for job in jobs
        ]

    async def _send(self, job: Job) -> Report:
        assert self._deliverer is not None
        action = job.action
        with trace(action.trace_id):
            report = await self._deliverer.deliver(self._senders[job.channel.value], job)
            fields = {
                "receiver": action.receiver.name,
                "channel": job.channel.value,
                "actions": len(job.actions),
                "attempts": report.attempts,
            }
            if report.delivered:
                log.info("delivered", extra={"fields": fields})
            else:
                log.warning("delivery failed", extra={"fields": fields | {"error": report.error}})
        return report

    def _outputs(self, item: Decoded[Action], outcome: store.Finished) -> list[Message]:
        action = item.event
        failed = outcome.status == store.FAILED
        fallback = fallback_action(action) if outcome.status != store.DELIVERED else None
        result = DeliveryResult(
            event_id=derive_id("delivery-result", action.action_id),
            trace_id=action.trace_id,
            occurred_at=action.occurred_at,
            action_id=action.action_id,
            case_id=action.case_id,
            receiver=action.receiver.name,
            channel=action.receiver.channel,
            outcome=OUTCOMES[outcome.status],
            attempts=outcome.attempts,
            status_code=outcome.status_code,
            error=outcome.error,
            dead_lettered=failed,
            fallback=fallback.receiver.name if fallback else None,
            reference=outcome.reference,
        )
        messages = [to_message(self.outputs[0], result, key=action.action_id)]
        if failed:
            reason = f"delivery failed after {outcome.attempts} attempt(s): {outcome.error}"
            messages.append(dlq_message(item.record, reason, self.name))
        if fallback is not None:
            messages.append(to_message(self.source, fallback, key=str(action.case_id)))
        return messages


class CriticalNotifierComponent(NotifierComponent):
    """The critical cases' lane: the same deliveries, read from a topic and a consumer group
    of their own, so that a crisis page never waits behind routine actions (a platform's
    rate limit holding reactions back, a backlog). Its rate limits and breakers are its own;
    its fallbacks stay in the lane; e-mail digests are the routine lane's (critical pages
    are never held for one)."""

    name = "notifier-critical"
    group = CRITICAL_GROUP
    source = ACTIONS_CRITICAL

    def _digests_across_batches(self) -> bool:
        return False
