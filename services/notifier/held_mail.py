"""The ``email_digests`` table: e-mail pages recorded at once or held for a digest.

``hold`` decides a batch's digestible pages in one transaction, before the stage commits
its offsets: it reads each receiver's storm, records every new page (sent at once, or held
with its action and its window) and answers which ones are held. A page seen before keeps
the decision made the first time, so a redelivered batch decides nothing twice.

``claim_due`` hands a flush the held rows of whole windows that are due, or whose earlier
claim ran out (the process died mid-flush), for a lease: ``UPDATE .. WHERE id IN (SELECT ..
FOR UPDATE SKIP LOCKED) RETURNING``. On PostgreSQL, holding and claiming take a transaction
lock on the receiver (``pg_advisory_xact_lock``, the flush only tries), so a page never joins
a window whose digest is being sent and two replicas never split one window. SQLite (one
process) uses the caller's ``asyncio.Lock`` instead.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.storm import Decision, Storm, Window
from shared.events import Action
from shared.stage import Decoded
from shared.storage.tables import email_digests as t
from shared.storage.writes import insert_ignore_many

Decide = Callable[[Sequence[Action], Mapping[str, Storm]], Decision]

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


@dataclass(frozen=True, slots=True)
class HeldPage:
    id: int
    action: Action
    window_start: datetime
    partition: int
    offset: int


def utc(value: datetime) -> datetime:
    """SQLite gives back naive datetimes: they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def lock_key(receiver: str) -> int:
    """A signed 64-bit advisory lock key for a receiver's digest."""
    digest = hashlib.sha256(f"vigie.email-digest:{receiver}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def hold(
    engine: AsyncEngine,
    items: Sequence[Decoded[Action]],
    decide: Decide,
    now: datetime,
    *,
    lookback: timedelta,
    lock: asyncio.Lock,
) -> set[str]:
    """Record the decision for each page of ``items``; the ids of those held."""
    if not items:
        return set()
    pages = {item.event.action_id: item for item in items}
    receivers = sorted({item.event.receiver.name for item in items})
    async with lock, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for receiver in receivers:  # always in the same order: no deadlock
                await conn.execute(_LOCK, {"key": lock_key(receiver)})
        seen = {
            row.action_id: bool(row.held)
            for row in await conn.execute(
                select(t.c.action_id, t.c.held).where(t.c.action_id.in_(list(pages)))
            )
        }
        new = [item.event for key, item in pages.items() if key not in seen]
        if not new:
            return {key for key, held in seen.items() if held}
        decision = decide(new, await _storms(conn, receivers, now - lookback))
        rows = [_row(pages[a.action_id], decision.held.get(a.action_id), now) for a in new]
        await insert_ignore_many(conn, t, rows)
    return {key for key, held in seen.items() if held} | set(decision.held)


async def _storms(conn: AsyncConnection, receivers: list[str], since: datetime) -> dict[str, Storm]:
    recent = select(t.c.receiver, func.count()).where(
        t.c.receiver.in_(receivers), t.c.created_at > since
    )
    counts: dict[str, int] = {
        receiver: int(count)
        for receiver, count in await conn.execute(recent.group_by(t.c.receiver))
    }
    open_windows = select(t.c.receiver, func.min(t.c.window_start), func.min(t.c.due_at)).where(
        t.c.receiver.in_(receivers),
        t.c.held,
        t.c.claimed_until.is_(None),
        t.c.sent_at.is_(None),
    )
    windows = {
        receiver: Window(utc(start), utc(due))
        for receiver, start, due in await conn.execute(open_windows.group_by(t.c.receiver))
    }
    return {r: Storm(counts.get(r, 0), windows.get(r)) for r in receivers}


def _row(item: Decoded[Action], window: Window | None, now: datetime) -> dict[str, Any]:
    action = item.event
    row: dict[str, Any] = {
        "action_id": action.action_id,
        "receiver": action.receiver.name,
        "held": window is not None,
        "created_at": now,
        "window_start": None,
        "due_at": None,
        "action": None,
        "source_partition": None,
        "source_offset": None,
    }
    if window is not None:
        row |= {
            "window_start": window.start,
            "due_at": window.due,
            "action": action.model_dump_json(),
            "source_partition": item.record.partition,
            "source_offset": item.record.offset,
        }
    return row


def _claimable(now: datetime) -> Any:
    return and_(
        t.c.held,
        t.c.sent_at.is_(None),
        or_(
            and_(t.c.claimed_until.is_(None), t.c.due_at <= now),
            t.c.claimed_until <= now,
        ),
    )


async def claim_due(
    engine: AsyncEngine, now: datetime, *, lease: timedelta, lock: asyncio.Lock
) -> list[HeldPage]:
    """The held pages of every window due at ``now``, claimed until ``now + lease``."""
    async with engine.connect() as conn:
        receivers = list(
            (await conn.execute(select(t.c.receiver).where(_claimable(now)).distinct())).scalars()
        )
    out: list[HeldPage] = []
    for receiver in receivers:
        async with lock, engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                locked = await conn.execute(_TRY_LOCK, {"key": lock_key(receiver)})
                if not locked.scalar_one():
                    continue  # another replica is claiming, or a batch is holding
            ids = (
                select(t.c.id)
                .where(t.c.receiver == receiver, _claimable(now))
                .with_for_update(skip_locked=True)
            )
            claimed = await conn.execute(
                update(t)
                .where(t.c.id.in_(ids.scalar_subquery()))
                .values(claimed_until=now + lease)
                .returning(
                    t.c.id, t.c.action, t.c.window_start, t.c.source_partition, t.c.source_offset
                )
            )
            out += [
                HeldPage(
                    row.id,
                    Action.model_validate_json(row.action),
                    utc(row.window_start),
                    row.source_partition,
                    row.source_offset,
                )
                for row in claimed
            ]
    return out


async def mark_sent(engine: AsyncEngine, ids: Sequence[int], now: datetime) -> None:
    if not ids:
        return
    async with engine.begin() as conn:
        await conn.execute(update(t).where(t.c.id.in_(list(ids))).values(sent_at=now))


async def release(engine: AsyncEngine, ids: Sequence[int], now: datetime) -> None:
    """Give claimed rows back at once (their flush failed before its end): the ledger's
    claim of the digest decides, at the next flush, whether anything may still be sent."""
    if not ids:
        return
    async with engine.begin() as conn:
        await conn.execute(
            update(t).where(t.c.id.in_(list(ids)), t.c.sent_at.is_(None)).values(claimed_until=now)
        )
