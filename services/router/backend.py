"""What the router's HTTP routes need from the running service (who may call them: see
``services.router.access``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from fastapi import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.metrics import RouterMetrics
from services.router.outbox import Publisher
from services.router.policy.config import Policy


class Backend(Protocol):
    policy: Policy

    def engine(self) -> AsyncEngine | None: ...

    def publisher(self) -> Publisher | None: ...

    def metrics(self) -> RouterMetrics | None: ...

    def now(self) -> datetime: ...


def started(backend: Backend) -> tuple[AsyncEngine, Publisher, RouterMetrics]:
    engine, publisher, metrics = backend.engine(), backend.publisher(), backend.metrics()
    if engine is None or publisher is None or metrics is None:
        raise HTTPException(503, "the router is starting")
    return engine, publisher, metrics
