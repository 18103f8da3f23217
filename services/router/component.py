"""The router's part of a process: the classified-comments stage and the API."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.api import api_routes
from services.router.metrics import RouterMetrics
from services.router.policy.config import Policy, load_policy
from services.router.settings import RouterSettings
from services.router.worker import GROUP, route_batch
from shared.bus import Message
from shared.codec import decoder
from shared.events import ClassifiedComment
from shared.metrics import StageMetrics
from shared.runtime import Runtime
from shared.stage import Decoded, Stage
from shared.topics import ACTIONS, CASE_EVENTS, COMMENTS_CLASSIFIED


class RouterComponent:
    name = "router"

    def __init__(self, settings: RouterSettings, *, policy: Policy | None = None) -> None:
        self._settings = settings
        # Loaded now, so that a bad policy stops the service before it takes traffic.
        self.policy = policy or load_policy(settings.policy_file)
        self._runtime: Runtime | None = None
        self._stage: Stage[ClassifiedComment] | None = None
        self._metrics: RouterMetrics | None = None

    def _engine(self) -> AsyncEngine | None:
        return self._runtime.engine if self._runtime else None

    def routes(self) -> APIRouter:
        return api_routes(self._engine)

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._metrics = RouterMetrics(runtime.registry)
        self._metrics.policy.info({"version": self.policy.version})
        await runtime.bus.ensure_topics([ACTIONS, CASE_EVENTS])
        self._stage = Stage(
            name="router",
            bus=runtime.bus,
            topics=[COMMENTS_CLASSIFIED],
            group=GROUP,
            decode=decoder(ClassifiedComment),
            process=self._process,
            metrics=StageMetrics.for_registry(runtime.registry),
            batch_size=self._settings.router_batch_size,
        )
        await self._stage.start()

    async def stop(self) -> None:
        if self._stage is not None:
            await self._stage.stop()

    def ready(self) -> bool:
        return self._stage is not None and self._stage.running

    async def _process(self, batch: Sequence[Decoded[ClassifiedComment]]) -> list[Message]:
        assert self._runtime is not None and self._metrics is not None
        return await route_batch(
            self._runtime, self.policy, [item.event for item in batch], self._metrics
        )
