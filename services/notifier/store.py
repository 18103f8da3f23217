"""The deliveries table: the idempotency key is written before anything is sent.

A row is claimed as ``sending`` in the same statement that checks whether the action was
seen before, for a whole batch at once. A row still ``sending`` when its action comes
again means a send was interrupted (the process died, or the batch failed after sending):
it was perhaps received. ``pending`` is how earlier versions said the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events import Action
from shared.storage.tables import deliveries

PENDING, SENDING = "pending", "sending"
DELIVERED, FAILED, IN_DOUBT = "delivered", "failed", "in_doubt"
INTERRUPTED = frozenset({PENDING, SENDING})
FINISHED = frozenset({DELIVERED, FAILED, IN_DOUBT})


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    status: str
    attempts: int
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Finished:
    action_id: str
    status: str
    attempts: int
    status_code: int | None
    error: str | None


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(deliveries)
    if dialect == "sqlite":
        return sqlite.insert(deliveries)
    raise NotImplementedError(dialect)  # pragma: no cover - only the two dialects above


async def claim(
    engine: AsyncEngine, actions: Sequence[Action], now: datetime
) -> dict[str, DeliveryRow | None]:
    """Claim every action of a batch; ``None`` for those this call claimed (send them),
    the existing row for those seen before."""
    unique = {a.action_id: a for a in actions}
    if not unique:
        return {}
    rows = [
        {
            "idempotency_key": a.action_id,
            "case_id": str(a.case_id),
            "receiver": a.receiver.name,
            "channel": a.receiver.channel.value,
            "status": SENDING,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "trace_id": a.trace_id,
        }
        for a in unique.values()
    ]
    async with engine.begin() as conn:
        stmt = (
            _insert(conn.dialect.name)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(deliveries.c.idempotency_key)
        )
        claimed = set((await conn.execute(stmt)).scalars())
        seen = [key for key in unique if key not in claimed]
        existing = (
            (
                await conn.execute(
                    select(
                        deliveries.c.idempotency_key,
                        deliveries.c.status,
                        deliveries.c.attempts,
                        deliveries.c.status_code,
                        deliveries.c.error,
                    ).where(deliveries.c.idempotency_key.in_(seen))
                )
            ).all()
            if seen
            else []
        )
    out: dict[str, DeliveryRow | None] = dict.fromkeys(claimed)
    for row in existing:
        out[row.idempotency_key] = DeliveryRow(row.status, row.attempts, row.status_code, row.error)
    return out


async def finish(engine: AsyncEngine, outcomes: Sequence[Finished], now: datetime) -> None:
    if not outcomes:
        return
    stmt = (
        update(deliveries)
        .where(deliveries.c.idempotency_key == bindparam("k"))
        .values(
            status=bindparam("s"),
            attempts=bindparam("n"),
            status_code=bindparam("c"),
            error=bindparam("e"),
            updated_at=bindparam("t"),
        )
    )
    params = [
        {
            "k": o.action_id,
            "s": o.status,
            "n": o.attempts,
            "c": o.status_code,
            "e": o.error,
            "t": now,
        }
        for o in outcomes
    ]
    async with engine.begin() as conn:
        await conn.execute(stmt, params)
