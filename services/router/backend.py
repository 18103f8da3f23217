"""What the router's HTTP routes need from the running service (who may call them: see
``services.router.access``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from fastapi import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.metrics import RouterMetrics
from services.router.outbox import Publisher
from services.router.policy.config import Policy
from shared.bus import Message
from shared.stage import is_recoverable

log = logging.getLogger(__name__)


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


async def publish_soon(publisher: Publisher, messages: Sequence[Message], now: datetime) -> None:
    """Publish what a committed change staged; should the broker be down, the timer loop
    publishes it from the outbox later, and the change stands."""
    try:
        await publisher.publish(messages, now=now)
    except Exception as exc:
        if not is_recoverable(exc):
            raise
        log.warning("events left in the outbox for later: %s", type(exc).__name__)
