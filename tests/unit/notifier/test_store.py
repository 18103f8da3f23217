"""The deliveries table: the idempotency key is claimed once, its outcome is kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier import store
from shared.storage.tables import deliveries
from tests.unit import factories as f


async def test_a_new_action_is_claimed_as_pending(engine: AsyncEngine) -> None:
    row = await store.claim(engine, f.action(), f.NOW)

    assert row == store.DeliveryRow(status=store.PENDING, attempts=0, status_code=None, error=None)


async def test_a_finished_delivery_is_not_claimed_again(engine: AsyncEngine) -> None:
    action = f.action()
    await store.claim(engine, action, f.NOW)
    await store.finish(
        engine,
        action,
        status=store.DELIVERED,
        attempts=2,
        status_code=200,
        error=None,
        now=f.NOW + timedelta(seconds=1),
    )

    again = await store.claim(engine, action, f.NOW + timedelta(minutes=5))

    assert again == store.DeliveryRow(store.DELIVERED, 2, 200, None)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()
        created = (await conn.execute(select(deliveries.c.created_at))).scalar_one()
    assert rows == 1
    assert created.replace(tzinfo=None) == f.NOW.replace(tzinfo=None)


async def test_a_failed_delivery_keeps_its_error(engine: AsyncEngine) -> None:
    action = f.action()
    await store.claim(engine, action, f.NOW)
    await store.finish(
        engine,
        action,
        status=store.FAILED,
        attempts=4,
        status_code=503,
        error="HTTP 503",
        now=f.NOW,
    )

    assert await store.claim(engine, action, f.NOW) == store.DeliveryRow(
        store.FAILED, 4, 503, "HTTP 503"
    )
