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
from shared.events import ClassifiedComment
from shared.runtime import Runtime
from shared.stage import Decoded
from shared.stage_component import StageComponent
from shared.topics import ACTIONS, CASE_EVENTS, COMMENTS_CLASSIFIED


class RouterComponent(StageComponent[ClassifiedComment]):
    name = "router"
    group = GROUP
    source = COMMENTS_CLASSIFIED
    outputs = (ACTIONS, CASE_EVENTS)
    model = ClassifiedComment

    def __init__(self, settings: RouterSettings, *, policy: Policy | None = None) -> None:
        super().__init__(batch_size=settings.router_batch_size)
        # Loaded now, so that a bad policy stops the service before it takes traffic.
        self.policy = policy or load_policy(settings.policy_file)
        self._runtime: Runtime | None = None
        self._metrics: RouterMetrics | None = None

    def _engine(self) -> AsyncEngine | None:
        return self._runtime.engine if self._runtime else None

    def routes(self) -> APIRouter:
        return api_routes(self._engine)

    async def prepare(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._metrics = RouterMetrics(runtime.registry)
        self._metrics.policy.info({"version": self.policy.version})

    async def process(self, batch: Sequence[Decoded[ClassifiedComment]]) -> list[Message]:
        assert self._runtime is not None and self._metrics is not None
        return await route_batch(
            self._runtime, self.policy, [item.event for item in batch], self._metrics
        )
