"""The router's part of a process: the classified-comments stage, the timer loop that
drives escalation chains and empties the outbox, and the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.api import api_routes
from services.router.backend import Backend
from services.router.metrics import CaseGauges, RouterMetrics
from services.router.outbox import Publisher
from services.router.policy.config import Policy, load_policy
from services.router.reports.mailing import mailing
from services.router.reports.scheduled import ScheduledReports
from services.router.settings import RouterSettings
from services.router.timer_loop import TimerLoop
from services.router.timers import Paging
from services.router.tokens import AckLinks
from services.router.worker import GROUP, PRIORITY_GROUP, route_batch
from shared.bus import Message
from shared.events import ClassifiedComment
from shared.metrics import events_published
from shared.precedence import Precedence, let_others_run
from shared.runtime import Runtime
from shared.settings import secret_values
from shared.stage import Decoded
from shared.stage_component import StageComponent
from shared.topics import (
    ACTIONS,
    ACTIONS_CRITICAL,
    CASE_EVENTS,
    CLASSIFIED_PRIORITY,
    COMMENTS_CLASSIFIED,
)


class RouterComponent(StageComponent[ClassifiedComment]):
    name = "router"
    group = GROUP
    source = COMMENTS_CLASSIFIED
    outputs = (ACTIONS, ACTIONS_CRITICAL, CASE_EVENTS)
    model = ClassifiedComment

    def __init__(self, settings: RouterSettings, *, policy: Policy | None = None) -> None:
        super().__init__(batch_size=settings.router_batch_size)
        self._settings = settings
        # Loaded now, so that a bad policy stops the service before it takes traffic.
        self.policy = policy or load_policy(settings.policy_file)
        self.paging = Paging(
            self.policy,
            AckLinks(
                secret_values(settings.ack_token_secret),
                settings.console_url,
                timedelta(hours=settings.ack_link_ttl_hours),
            ),
        )
        self.mailing = mailing(
            schedule=settings.report_schedule,
            recipients=settings.report_recipients,
            lang=settings.report_lang,
            policy=self.policy,
        )
        self._runtime: Runtime | None = None
        self._metrics: RouterMetrics | None = None
        self._publisher: Publisher | None = None
        self.timers: TimerLoop | None = None
        # The priority lane of this process goes first (``PriorityRouterComponent``).
        self.precedence = Precedence()

    # What the API needs, once started.
    def engine(self) -> AsyncEngine | None:
        return self._runtime.engine if self._runtime else None

    def publisher(self) -> Publisher | None:
        return self._publisher

    def metrics(self) -> RouterMetrics | None:
        return self._metrics

    def now(self) -> datetime:
        assert self._runtime is not None
        return self._runtime.clock()

    def routes(self) -> APIRouter:
        backend: Backend = self
        return api_routes(backend, settings=self._settings)

    async def prepare(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._metrics = RouterMetrics(runtime.registry)
        self._metrics.policy.info({"version": self.policy.version})
        cases = CaseGauges(self._metrics, runtime.engine, self.paging, clock=runtime.clock)
        runtime.scrape_hooks.append(cases.refresh)
        self._publisher = Publisher(
            runtime.engine,
            runtime.bus,
            published=events_published(runtime.registry),
        )
        self.timers = TimerLoop(
            runtime.engine,
            self._publisher,
            self.paging,
            clock=runtime.clock,
            metrics=self._metrics,
            poll_s=self._settings.timer_poll_s,
            batch_size=self._settings.timer_batch_size,
            reports=ScheduledReports(runtime.engine, self.mailing, self.policy)
            if self.mailing
            else None,
        )

    async def start(self, runtime: Runtime) -> None:
        await super().start(runtime)
        assert self.timers is not None
        await self.timers.start()

    async def stop(self) -> None:
        if self.timers is not None:
            await self.timers.stop()
        await super().stop()

    def ready(self) -> bool:
        return super().ready() and self.timers is not None and self.timers.running()

    def before_batch(self) -> Callable[[], Awaitable[None]]:
        return self.precedence.yield_point

    async def process(self, batch: Sequence[Decoded[ClassifiedComment]]) -> list[Message]:
        return await self.route(batch, yield_point=self.precedence.yield_point)

    async def route(
        self,
        batch: Sequence[Decoded[ClassifiedComment]],
        *,
        yield_point: Callable[[], Awaitable[None]],
    ) -> list[Message]:
        """Route, then publish what was staged: the outbox holds it should this fail.
        ``yield_point`` is awaited between slices of the batch and before publishing."""
        assert self._runtime is not None and self._metrics is not None
        assert self._publisher is not None
        staged = await route_batch(
            self._runtime,
            self.paging,
            [item.event for item in batch],
            self._metrics,
            yield_point=yield_point,
        )
        await yield_point()
        await self._publisher.publish(staged, now=self._runtime.clock())
        return []


class PriorityRouterComponent(StageComponent[ClassifiedComment]):
    """The priority lane: verdicts of comments screened in at ingest, read from a topic and
    a consumer group of their own, routed exactly as the routine lane routes (same policy,
    same outbox, same timers), by the routine lane's component, which must start first.

    The two lanes write cases concurrently, as two router replicas do: a case both would
    open is opened once (the second one's insert conflicts, and its batch is routed again
    comment by comment). While this lane routes, the routine one waits at its yield points
    (``Precedence``).
    """

    name = "router-priority"
    group = PRIORITY_GROUP
    source = CLASSIFIED_PRIORITY
    outputs = RouterComponent.outputs
    model = ClassifiedComment

    def __init__(self, routine: RouterComponent) -> None:
        super().__init__(batch_size=routine._settings.router_batch_size)
        self._routine = routine

    async def prepare(self, runtime: Runtime) -> None:
        if self._routine.publisher() is None:
            raise RuntimeError("the routine router component must start first")

    async def process(self, batch: Sequence[Decoded[ClassifiedComment]]) -> list[Message]:
        async with self._routine.precedence.urgent():
            return await self._routine.route(batch, yield_point=let_others_run)
