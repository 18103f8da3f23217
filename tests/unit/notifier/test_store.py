"""The deliveries table: a key is claimed once per batch, its outcome is kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier import store
from shared.storage.tables import deliveries
from tests.unit import factories as f


async def test_a_new_action_is_claimed_for_sending(engine: AsyncEngine) -> None:
    action = f.action()

    assert await store.claim(engine, [action, action], f.NOW) == {action.action_id: None}
    again = await store.claim(engine, [action], f.NOW)
    # Claimed but never finished: a send was interrupted.
    assert again == {action.action_id: store.DeliveryRow(store.SENDING, 0, None, None)}


async def test_a_finished_delivery_is_not_claimed_again(engine: AsyncEngine) -> None:
    action = f.action()
    other = action.model_copy(update={"action_id": "other"})
    await store.claim(engine, [action], f.NOW)
    await store.finish(
        engine,
        [store.Finished(action.action_id, store.DELIVERED, 2, 200, None)],
        f.NOW + timedelta(seconds=1),
    )

    claims = await store.claim(engine, [action, other], f.NOW + timedelta(minutes=5))

    assert claims == {
        action.action_id: store.DeliveryRow(store.DELIVERED, 2, 200, None),
        "other": None,
    }
    async with engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()
    assert rows == 2


async def test_a_failed_delivery_keeps_its_error(engine: AsyncEngine) -> None:
    action = f.action()
    await store.claim(engine, [action], f.NOW)
    await store.finish(
        engine, [store.Finished(action.action_id, store.FAILED, 4, 503, "HTTP 503")], f.NOW
    )

    assert await store.claim(engine, [action], f.NOW) == {
        action.action_id: store.DeliveryRow(store.FAILED, 4, 503, "HTTP 503")
    }
