"""Sending the digests of held e-mail pages when their window ends.

``tick(now)`` is one pass: claim the held pages of every due window (``held_mail``), and
for each window claim the digest's idempotency key (receiver and window start) together
with its pages' keys in the deliveries ledger, durably, before sending anything; then send
one digest, record each page's outcome (its ``reference`` names the digest), publish the
pages' results as the stage would (DLQ record and fallback included) and mark the rows.
A process that dies before the ledger claim leaves the rows to be claimed again once their
lease runs out; one that dies after it finds the digest's key already claimed: a finished
digest's outcomes are published again without sending, an interrupted one is reported in
doubt, as for every e-mail. The loop calls ``tick`` every ``VIGIE_EMAIL_DIGEST_POLL_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from itertools import groupby

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier import held_mail, store
from services.notifier.delivery import Deliverer, Job, Sender
from services.notifier.held_mail import HeldPage
from services.notifier.metrics import NotifierMetrics
from services.notifier.storm import digest_key
from shared.bus import Bus, Message, Record
from shared.events import Action
from shared.logs import trace
from shared.periodic import Periodic
from shared.runtime import Clock
from shared.stage import Decoded, is_recoverable

log = logging.getLogger(__name__)

Emit = Callable[[Decoded[Action], store.Finished], list[Message]]
IN_DOUBT = "a digest was interrupted; not repeated on a channel that could duplicate it"


class DigestFlusher:
    def __init__(
        self,
        engine: AsyncEngine,
        bus: Bus,
        *,
        deliverer: Deliverer,
        sender: Sender,
        emit: Emit,
        source: str,
        clock: Clock,
        metrics: NotifierMetrics,
        lock: asyncio.Lock,
        lease: timedelta,
        poll_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._deliverer = deliverer
        self._sender = sender
        self._emit = emit
        self._source = source
        self._clock = clock
        self._metrics = metrics
        self._lock = lock
        self._lease = lease
        self._loop = Periodic("notifier:digests", self.tick, poll_s)

    async def tick(self, now: datetime | None = None) -> int:
        """Send every digest due at ``now`` (default: the clock's time); how many pages."""
        at = self._clock() if now is None else now
        pages = await held_mail.claim_due(self._engine, at, lease=self._lease, lock=self._lock)
        pages.sort(key=lambda p: (p.action.receiver.name, p.window_start, p.id))
        for _, group in groupby(pages, key=lambda p: (p.action.receiver.name, p.window_start)):
            window = list(group)
            try:
                await self._flush(window, at)
            except Exception as exc:
                if not is_recoverable(exc):
                    raise  # the rows wait for their lease to end: a bug must not spin
                # An outage: the other windows go on, this one is tried again next time.
                with contextlib.suppress(Exception):
                    await held_mail.release(self._engine, [p.id for p in window], at)
                log.warning("digest not flushed: %s", type(exc).__name__, exc_info=exc)
        return len(pages)

    async def _flush(self, pages: Sequence[HeldPage], now: datetime) -> None:
        first = pages[0].action
        key = digest_key(first.receiver.name, pages[0].window_start)
        actions = [p.action for p in pages]
        marker = first.model_copy(update={"action_id": key})  # the digest's ledger row
        claims = await store.claim(self._engine, [*actions, marker], now)
        outcomes: dict[str, store.Finished] = {}
        writes: list[store.Finished] = []
        fresh = [a for a in actions if claims[a.action_id] is None] if claims[key] is None else []
        sending = {a.action_id for a in fresh}
        for action in actions:
            row = claims[action.action_id]
            if row is not None and row.status in store.FINISHED:
                outcomes[action.action_id] = store.Finished(
                    action.action_id,
                    row.status,
                    row.attempts,
                    row.status_code,
                    row.error,
                    row.reference,
                )
            elif action.action_id not in sending:
                outcomes[action.action_id] = store.Finished(
                    action.action_id, store.IN_DOUBT, row.attempts if row else 0, None, IN_DOUBT
                )
                writes.append(outcomes[action.action_id])
        if fresh:
            with trace(first.trace_id):
                report = await self._deliverer.deliver(self._sender, Job(tuple(fresh), digest=key))
                fields = {"receiver": first.receiver.name, "actions": len(fresh), "digest": key}
                if report.delivered:
                    log.info("digest delivered", extra={"fields": fields})
                else:
                    log.warning("digest failed", extra={"fields": fields | {"error": report.error}})
            status = store.DELIVERED if report.delivered else store.FAILED
            for action in fresh:
                outcomes[action.action_id] = store.Finished(
                    action.action_id, status, report.attempts, report.status_code, report.error, key
                )
            writes += [outcomes[a.action_id] for a in fresh]
            writes.append(
                store.Finished(
                    key, status, report.attempts, report.status_code, report.error, report.reference
                )
            )
        elif claims[key] is None:  # every page was settled some other way
            writes.append(store.Finished(key, store.DELIVERED, 0, None, "nothing left to send"))
        await store.finish(self._engine, writes, now)
        for outcome in writes:
            if outcome.action_id != key:
                self._metrics.deliveries.labels("email", outcome.status).inc()
        messages = [
            m for p in pages for m in self._emit(self._decoded(p), outcomes[p.action.action_id])
        ]
        await self._bus.publish(messages)
        await held_mail.mark_sent(self._engine, [p.id for p in pages], now)

    def _decoded(self, page: HeldPage) -> Decoded[Action]:
        action = page.action
        record = Record(
            topic=self._source,
            partition=page.partition,
            offset=page.offset,
            key=str(action.case_id).encode(),
            value=action.model_dump_json().encode(),
        )
        return Decoded(record, action)

    def running(self) -> bool:
        return self._loop.running()

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
