"""Reminding a case's receivers that a queued question is still unanswered.

A ``queue`` action gives its case an ``answer_due_at`` and one ``answer-due:<case>`` timer
row due then (the earliest due time when several comments are queued), with the language of
the comment queued first in ``page``. A queued question is answered when a moderator
resolves the case: resolving it clears the row, and nothing is sent. Otherwise, when the row
falls due, the receivers of the case's route get one reminder each, under an id derived from
the case, its round and the receiver, so that a retry or a second replica sends it once. A
case that pages nobody (muted, or a route without receivers) gets the reminder on its
timeline only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router import store
from services.router.actions import CaseView, answer_due
from services.router.casework import chain_timer_id
from services.router.policy.config import Policy
from services.router.policy.decide import fallback_of, receiver_of
from services.router.policy.tree import Route
from shared.bus import Message
from shared.events import CaseStatus
from shared.storage.tables import case_timers

ANSWER_DUE = "answer_due"


def answer_due_timer_id(case_id: str) -> str:
    return f"answer-due:{case_id}"


def answer_due_row(
    case_id: str, *, due_at: datetime, lang: str | None, now: datetime
) -> dict[str, Any]:
    """The case's reminder row as first written (an earlier due time wins, see
    ``batch_writes``)."""
    return {
        "id": answer_due_timer_id(case_id),
        "case_id": case_id,
        "kind": ANSWER_DUE,
        "notified": 0,
        "reminded": 0,
        "page": {"lang": lang},
        "due_at": due_at,
        "updated_at": now,
    }


async def _pages_nobody(conn: AsyncConnection, case_id: str) -> bool:
    query = select(case_timers.c.id).where(case_timers.c.id == chain_timer_id(case_id))
    return (await conn.execute(query)).first() is None


async def advance_answer_due(
    conn: AsyncConnection,
    timer: Any,
    case: Any,
    *,
    policy: Policy,
    route: Route | None,
    now: datetime,
) -> list[Message]:
    """Send the reminder ``timer`` is due for; the caller holds its lock and commits."""
    await conn.execute(
        update(case_timers)
        .where(case_timers.c.id == timer.id)
        .values(due_at=None, reminded=timer.reminded + 1, updated_at=now)
    )
    if case.status == CaseStatus.RESOLVED.value:
        return []  # answered
    view = CaseView.of_row(case)
    due_at = store.aware(case.answer_due_at or timer.due_at)
    lang = (timer.page or {}).get("lang")
    names = () if route is None or await _pages_nobody(conn, case.id) else route.receivers
    messages: list[Message] = []
    told: list[str] = []
    for name in names:
        config = policy.receivers.get(name)
        if config is None:  # a policy change removed the receiver
            continue
        action = answer_due(
            view,
            receiver_of(config),
            due_at=due_at,
            lang=lang,
            policy_version=policy.version,
            at=now,
            fallback=fallback_of(config, policy.receivers),
        )
        messages += await store.record_action(conn, action, status=store.EMITTED, now=now)
        told.append(name)
    await store.audit(
        conn,
        dedup_key=f"answer-overdue:{view.id}{view.generation}",
        at=now,
        action="case.answer_overdue",
        subject_id=str(view.id),
        reason=f"answer due since {due_at.isoformat()}: reminded "
        + (", ".join(told) or "nobody (the case pages nobody)"),
        policy_version=policy.version,
        trace_id=case.trace_id,
        details={"answer_due_at": due_at.isoformat(), "receivers": told},
    )
    return messages
