"""The loop that fires due escalation steps and empties the outbox.

``tick(now)`` is one pass: every due timer, each in its own transaction; the events those
staged and the scheduled reports due, published at once; then every event staged more than
``outbox.DRAIN_AFTER`` ago and still unpublished (what a crash or a broker outage left). The loop
calls it every ``VIGIE_TIMER_POLL_S`` with the runtime's clock; tests call it directly with
the time they choose. Any number of replicas may run it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.metrics import RouterMetrics, sla_breach
from services.router.outbox import Publisher
from services.router.reports.scheduled import ScheduledReports
from services.router.timers import Paging, advance, claim_due, set_due
from shared.bus import Message
from shared.periodic import Periodic
from shared.runtime import Clock
from shared.stage import is_recoverable

log = logging.getLogger(__name__)

# A timer whose step fails on a bug (not an outage) is retried this much later, so that it
# neither blocks the timers behind it nor spins.
RETRY_BROKEN = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Tick:
    fired: int
    published: int


class TimerLoop:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        paging: Paging,
        *,
        clock: Clock,
        metrics: RouterMetrics,
        poll_s: float = 1.0,
        batch_size: int = 200,
        reports: ScheduledReports | None = None,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._paging = paging
        self._clock = clock
        self._metrics = metrics
        self._loop = Periodic("router:timers", self.tick, poll_s)
        self._batch_size = batch_size
        self._reports = reports

    async def tick(self, now: datetime | None = None) -> Tick:
        """Fire what is due at ``now`` (default: the clock's time), then publish."""
        at = self._clock() if now is None else now
        fired = 0
        staged: list[Message] = []
        try:
            while fired < self._batch_size:
                claimed: str | None = None
                try:
                    async with self._engine.begin() as conn:
                        timer = await claim_due(conn, at)
                        if timer is None:
                            break
                        claimed = timer.id
                        breach = await sla_breach(conn, timer, self._paging, at)
                        steps = await advance(conn, timer, paging=self._paging, now=at)
                    staged += steps
                    if breach is not None:  # counted once its transaction committed
                        self._metrics.sla_breaches.labels(*breach).inc()
                except Exception as exc:
                    if is_recoverable(exc) or claimed is None:
                        raise
                    await self._set_aside(claimed, at, exc)
                fired += 1
        finally:
            # What committed goes out now, even when a later timer met an outage; should the
            # broker refuse it, the drain of a later tick has it.
            published = await self._publisher.publish_soon(staged, now=at)
        self._metrics.timers_fired.inc(fired)
        if self._reports is not None:
            published += await self._publisher.publish_soon(await self._reports.run_due(at), now=at)
        drained = await self._publisher.drain(now=at)
        self._metrics.outbox_published.inc(drained)  # what the safety net had to publish
        return Tick(fired, published + drained)

    async def _set_aside(self, timer_id: str, now: datetime, exc: Exception) -> None:
        log.error("escalation timer failed; retried later", exc_info=exc)
        async with self._engine.begin() as conn:
            await set_due(conn, timer_id, now + RETRY_BROKEN, now)

    def running(self) -> bool:
        return self._loop.running()

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
