"""What the router's HTTP routes need from the running service, and the bearer check."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from fastapi import Header, HTTPException
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


def bearer(tokens: Sequence[bytes]) -> Callable[..., Awaitable[None]]:
    """A dependency: the request carries ``Authorization: Bearer <one of tokens>``."""
    live = tuple(tokens)

    async def check(authorization: str | None = Header(default=None)) -> None:
        challenge = {"WWW-Authenticate": "Bearer"}
        if not live:
            raise HTTPException(
                401, "the API is closed: VIGIE_ROUTER_API_TOKEN is not set", challenge
            )
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HTTPException(401, "send Authorization: Bearer <token>", challenge)
        # Compare with every live token, in constant time, whatever matches first.
        matches = [hmac.compare_digest(given.strip().encode(), token) for token in live]
        if not any(matches):
            raise HTTPException(401, "this token is not valid", challenge)

    return check
