"""The deliveries table: the idempotency key is written before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events import Action
from shared.storage.tables import deliveries
from shared.storage.writes import insert_ignore

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    status: str
    attempts: int
    status_code: int | None
    error: str | None


async def claim(engine: AsyncEngine, action: Action, now: datetime) -> DeliveryRow:
    """The delivery's row, created as pending if this action was never seen."""
    async with engine.begin() as conn:
        await insert_ignore(
            conn,
            deliveries,
            {
                "idempotency_key": action.action_id,
                "case_id": str(action.case_id),
                "receiver": action.receiver.name,
                "channel": action.receiver.channel.value,
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
                "trace_id": action.trace_id,
            },
        )
        row = (
            await conn.execute(
                select(
                    deliveries.c.status,
                    deliveries.c.attempts,
                    deliveries.c.status_code,
                    deliveries.c.error,
                ).where(deliveries.c.idempotency_key == action.action_id)
            )
        ).one()
    return DeliveryRow(row.status, row.attempts, row.status_code, row.error)


async def finish(
    engine: AsyncEngine,
    action: Action,
    *,
    status: str,
    attempts: int,
    status_code: int | None,
    error: str | None,
    now: datetime,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.idempotency_key == action.action_id)
            .values(
                status=status,
                attempts=attempts,
                status_code=status_code,
                error=error,
                updated_at=now,
            )
        )
