"""Silences in the database: created and expired by moderators through the API, read by
the worker for each batch. Expiring one early keeps its row (and the audit log says who),
and makes the cases it held from paging due at once."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router import store
from services.router.policy.silences import Silence
from services.router.silence_ends import silence_expired
from shared.storage.tables import silences


def _silence(row: Any) -> Silence:
    return Silence(
        id=row.id,
        matchers=tuple(row.matchers),
        starts_at=store.aware(row.starts_at),
        ends_at=store.aware(row.ends_at),
        created_by=row.created_by,
        comment=row.comment,
    )


def as_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


async def active_silences(conn: AsyncConnection, *, now: datetime) -> list[Silence]:
    """Silences not over at ``now`` (those still to start included: they start on time)."""
    rows = (await conn.execute(select(silences).where(silences.c.ends_at > now))).all()
    return [_silence(row) for row in rows]


async def list_silences(conn: AsyncConnection, *, now: datetime, expired: bool) -> list[Any]:
    query = select(silences).order_by(silences.c.starts_at.desc())
    if not expired:
        query = query.where(silences.c.ends_at > now)
    return list((await conn.execute(query.limit(500))).all())


def new_id() -> str:
    return secrets.token_hex(8)


async def create(
    conn: AsyncConnection, silence: Silence, *, now: datetime, policy_version: str
) -> Any:
    await conn.execute(
        silences.insert().values(
            id=silence.id,
            matchers=list(silence.matchers),
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            created_by=silence.created_by,
            comment=silence.comment,
            created_at=now,
        )
    )
    await _audit(
        conn,
        silence.id,
        "silence.created",
        silence.created_by,
        silence.comment,
        now,
        policy_version,
        {
            "matchers": list(silence.matchers),
            "starts_at": silence.starts_at.isoformat(),
            "ends_at": silence.ends_at.isoformat(),
        },
    )
    return (await conn.execute(select(silences).where(silences.c.id == silence.id))).first()


async def expire(
    conn: AsyncConnection,
    silence_id: str,
    *,
    by: str,
    reason: str,
    now: datetime,
    policy_version: str,
) -> Any | None:
    """End a silence now; None when there is no such silence. An ended one stays ended."""
    row = (
        await conn.execute(select(silences).where(silences.c.id == silence_id).with_for_update())
    ).first()
    if row is None:
        return None
    if store.aware(row.ends_at) > now:
        await conn.execute(
            update(silences)
            .where(silences.c.id == silence_id)
            .values(
                starts_at=min(store.aware(row.starts_at), now),
                ends_at=now,
                expired_at=now,
                expired_by=by,
            )
        )
        held = await silence_expired(conn, silence_id, now=now)
        await _audit(
            conn,
            silence_id,
            "silence.expired",
            by,
            reason,
            now,
            policy_version,
            {"was_ending_at": row.ends_at.isoformat(), "cases_paged_now": held},
        )
    return (await conn.execute(select(silences).where(silences.c.id == silence_id))).first()


async def _audit(
    conn: AsyncConnection,
    silence_id: str,
    action: str,
    by: str,
    reason: str,
    now: datetime,
    policy_version: str,
    details: dict[str, Any],
) -> None:
    await store.audit(
        conn,
        dedup_key=f"{action}:{silence_id}",
        at=now,
        action=action,
        subject_id=silence_id,
        reason=reason,
        policy_version=policy_version,
        trace_id=None,
        details=details,
        actor=by if by.startswith("key:") else f"user:{by}",
        subject_type="silence",
    )
