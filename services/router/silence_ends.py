"""Cases a silence kept from paging, paged once it ends (as Alertmanager notifies the alerts
still firing after a silence).

A non-critical case opened while a silence muted it gets no chain; it gets one
``silenced:<silence>:<case>`` timer row instead, due when the silence ends, with the chain
its route asked for. Expiring the silence early through the API moves those rows to now.
When the row falls due and the case is still open and unacknowledged, its chain starts then,
as if the case had opened at that moment; otherwise nothing is sent. Cases muted by an
inhibition rule are not concerned: they page when the source case tells them nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router import store
from shared.events import CaseStatus
from shared.storage.tables import case_timers, silences

SILENCED = "silenced"
SILENCE_PREFIX = "silence:"


def silenced_timer_id(silence_id: str, case_id: str) -> str:
    return f"{SILENCED}:{silence_id}:{case_id}"


def silence_of(muted_by: str | None) -> str | None:
    """The silence id in a decision's ``muted_by``; None for inhibition or no mute."""
    if muted_by is None or not muted_by.startswith(SILENCE_PREFIX):
        return None
    return muted_by.removeprefix(SILENCE_PREFIX)


async def silence_ends_at(conn: AsyncConnection, silence_id: str, *, now: datetime) -> datetime:
    """When the silence ends (now if it is gone). The silence row is read under a shared
    lock, so that an expiry through the API either comes first (and is seen here) or waits
    for the transaction that holds a case until then (and moves its row)."""
    row = (
        await conn.execute(
            select(silences.c.ends_at).where(silences.c.id == silence_id).with_for_update(read=True)
        )
    ).first()
    return now if row is None else max(now, store.aware(row.ends_at))


def silenced_timer_row(
    case_id: str, silence_id: str, *, chain: str | None, ends_at: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "id": silenced_timer_id(silence_id, case_id),
        "case_id": case_id,
        "kind": SILENCED,
        "chain": chain,
        "notified": 0,
        "reminded": 0,
        "page": {"silence": silence_id},
        "due_at": ends_at,
        "updated_at": now,
    }


async def silence_expired(conn: AsyncConnection, silence_id: str, *, now: datetime) -> int:
    """A silence ended early: the cases it held are due now. How many were."""
    prefix = f"{SILENCED}:{silence_id}:"
    result = await conn.execute(
        update(case_timers)
        .where(
            case_timers.c.kind == SILENCED,
            case_timers.c.id.startswith(prefix, autoescape=True),
            case_timers.c.due_at > now,
        )
        .values(due_at=now, updated_at=now)
    )
    return int(result.rowcount or 0)


async def silence_over(
    conn: AsyncConnection, timer: Any, case: Any, *, policy_version: str, now: datetime
) -> bool:
    """The silence holding the case is over: whether its chain starts now. The row is done
    either way, and the audit log says what happened."""
    await conn.execute(
        update(case_timers).where(case_timers.c.id == timer.id).values(due_at=None, updated_at=now)
    )
    silence_id = (timer.page or {}).get("silence", "?")
    starts = case.status == CaseStatus.OPEN.value and case.acknowledged_at is None
    reason = (
        f"silence {silence_id} is over while the case is open: its chain starts now"
        if starts
        else f"silence {silence_id} is over; the case is {case.status}: nothing to page"
    )
    await store.audit(
        conn,
        dedup_key=f"silence-over:{timer.id}",
        at=now,
        action="case.silence_over",
        subject_id=case.id,
        reason=reason,
        policy_version=policy_version,
        trace_id=case.trace_id,
        details={"silence": silence_id, "chain_starts": starts},
    )
    return starts
