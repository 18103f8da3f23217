"""Escalation timers as rows: what each case waits for, and doing it when it falls due.

A case that pages has one ``chain:<case>`` row: the chain it follows, when it started, how
many steps and reminders went out, and ``due_at``, when the planner next has something to
do. A page held back by its receiver's quiet hours waits in a ``page:<action id>`` row, and
the notices about comments that join the case in its ``digest:<case>`` row (``digests``),
a queued question's reminder in its ``answer-due:<case>`` row (``answer_due``), and a case a
silence kept from paging in a ``silenced:<silence>:<case>`` row (``silence_ends``).
``advance`` runs in the transaction that claimed the row (``FOR UPDATE SKIP LOCKED``): it
records the step, its actions and their outbox events, and the next ``due_at``, all or
nothing. A replica that dies before committing leaves the row due for the next claim; no
row is ever claimed by two replicas at once; so each step happens once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router import casework, store
from services.router.actions import CaseView
from services.router.answer_due import ANSWER_DUE, advance_answer_due
from services.router.casework import chain_timer_id
from services.router.chain_pages import PlannedPage, plan_pages, step_record
from services.router.digests import DIGEST, advance_digest, digest_timer_row, start_digests
from services.router.lifecycle import Transition
from services.router.paging import CHAIN, PAGE, Paging, chain_timer_row
from services.router.policy.chain_run import ChainRun, run_chain
from services.router.policy.escalation import ChainState, Step
from services.router.policy.tree import Grouping
from services.router.silence_ends import SILENCED, silence_over
from shared.bus import Message
from shared.events import Action, CaseStatus, Severity
from shared.storage.tables import audit_log, case_actions, case_timers
from shared.storage.writes import insert_ignore

__all__ = ["CHAIN", "PAGE", "Paging", "advance", "begin_paging", "chain_timer_row"]


async def start_chain(
    conn: AsyncConnection, case_id: str, *, chain: str | None, starts_at: datetime, now: datetime
) -> None:
    """The case's chain timer, due when the first step is (once ``group_wait`` is over)."""
    row = chain_timer_row(case_id, chain=chain, starts_at=starts_at, now=now)
    await insert_ignore(conn, case_timers, row)


def waiting_paging_rows(
    case_id: str,
    *,
    chain: str | None,
    grouping: Grouping | None,
    severity: Severity,
    now: datetime,
) -> list[dict[str, Any]] | None:
    """What ``begin_paging`` writes for a case opened now whose first page waits for
    ``group_wait``: its chain and digest timer rows. None when the first page is due at
    once (``begin_paging`` sends it)."""
    if grouping is None or grouping.wait <= timedelta(0):
        return None
    starts = now + grouping.wait
    digest = digest_timer_row(
        case_id, first_page_at=starts, grouping=grouping, severity=severity, now=now
    )
    return [chain_timer_row(case_id, chain=chain, starts_at=starts, now=now), digest]


async def begin_paging(
    conn: AsyncConnection,
    case_id: str,
    *,
    chain: str | None,
    grouping: Grouping | None,
    severity: Severity,
    paging: Paging,
    now: datetime,
    since: datetime | None = None,
) -> list[Message]:
    """Start the case's chain and digests as if it opened at ``since`` (default: now); the
    first step is sent at once when ``group_wait`` is over by now."""
    opened = now if since is None else min(since, now)
    starts = opened + grouping.wait if grouping else opened
    await start_chain(conn, case_id, chain=chain, starts_at=starts, now=now)
    if grouping is not None:
        await start_digests(
            conn, case_id, first_page_at=starts, grouping=grouping, severity=severity, now=now
        )
    if starts > now:
        return []  # the timer loop fires it once group_wait is over
    timer = await timer_row(conn, chain_timer_id(case_id))
    return await advance(conn, timer, paging=paging, now=now)


async def claim_due(conn: AsyncConnection, now: datetime) -> Any:
    """The most overdue timer no other transaction holds, locked until ours ends."""
    return (
        await conn.execute(
            select(case_timers)
            .where(case_timers.c.due_at <= now)
            .order_by(case_timers.c.due_at, case_timers.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).first()


async def timer_row(conn: AsyncConnection, timer_id: str, *, lock: bool = True) -> Any:
    query = select(case_timers).where(case_timers.c.id == timer_id)
    return (await conn.execute(query.with_for_update() if lock else query)).first()


async def advance(
    conn: AsyncConnection, timer: Any, *, paging: Paging, now: datetime
) -> list[Message]:
    """Do what ``timer`` is due for; the caller holds its lock and commits."""
    case = await store.case_row(conn, timer.case_id, lock=True)
    if timer.kind == PAGE:
        return await _release(conn, timer, case, now=now)
    route = paging.routes.get(case.route)
    if timer.kind == DIGEST:
        grouping = route.grouping if route is not None else None
        return await advance_digest(
            conn, timer, case, policy=paging.policy, grouping=grouping, now=now
        )
    if timer.kind == ANSWER_DUE:
        return await advance_answer_due(
            conn, timer, case, policy=paging.policy, route=route, now=now
        )
    if timer.kind == SILENCED:
        starts = await silence_over(
            conn, timer, case, policy_version=paging.policy.version, now=now
        )
        if not starts or route is None:
            return []
        return await begin_paging(
            conn,
            case.id,
            chain=timer.chain,
            grouping=route.grouping,
            severity=Severity(case.severity),
            paging=paging,
            now=now,
            since=store.aware(timer.due_at),
        )
    return await _advance_chain(conn, timer, case, paging=paging, now=now)


async def set_due(
    conn: AsyncConnection, timer_id: str, due_at: datetime | None, now: datetime
) -> None:
    await conn.execute(
        update(case_timers)
        .where(case_timers.c.id == timer_id)
        .values(due_at=due_at, updated_at=now)
    )


async def _advance_chain(
    conn: AsyncConnection, timer: Any, case: Any, *, paging: Paging, now: datetime
) -> list[Message]:
    policy = paging.policy
    chain = paging.chain_of(case.route, timer.chain)
    if chain is None:
        await set_due(conn, timer.id, None, now)
        await store.audit(
            conn,
            dedup_key=f"chain-stopped:{case.id}:{policy.version}",
            at=now,
            action="case.chain_stopped",
            subject_id=case.id,
            reason=f"the policy in force has no route {case.route!r} or chain {timer.chain!r}",
            policy_version=policy.version,
            trace_id=case.trace_id,
            details={},
        )
        return []
    state = ChainState(
        started_at=store.aware(timer.started_at),
        notified=timer.notified,
        acknowledged_at=store.aware_or_none(case.acknowledged_at),
        reminded=timer.reminded,
        resolved=case.status == CaseStatus.RESOLVED.value,
    )
    run = run_chain(chain, state, now=now)
    view = CaseView.of_row(case)
    messages, pages = await _send_pages(conn, view, run, paging=paging, now=now)
    await conn.execute(
        update(case_timers)
        .where(case_timers.c.id == timer.id)
        .values(notified=run.notified, reminded=run.reminded, due_at=run.next_due, updated_at=now)
    )
    if run.pages or run.folded:
        step = step_record(view, chain, run, pages, policy=policy, now=now)
        await insert_ignore(conn, audit_log, step.audit)
        if step.escalated is not None:
            messages += await store.stage_events(conn, [step.escalated], now=now)
    if run.resolve:
        done = await casework.transition(
            conn,
            case.id,
            Transition.RESOLVE,
            actor=store.SYSTEM,
            reason=f"chain {chain.name} ran out unacknowledged (then: resolve)",
            policy_version=policy.version,
            now=now,
            audit_key=f"chain-resolve{view.generation}",
        )
        messages += done.messages
    return messages


async def _send_pages(
    conn: AsyncConnection, view: CaseView, run: ChainRun, *, paging: Paging, now: datetime
) -> tuple[list[Message], list[PlannedPage]]:
    messages: list[Message] = []
    pages = plan_pages(view, run, paging=paging, now=now)
    for planned in pages:
        messages += await store.record_action(
            conn, planned.action, status=planned.status, now=now, note=planned.note
        )
        if planned.held_timer is not None:
            await insert_ignore(conn, case_timers, planned.held_timer)
    return messages, pages


async def _release(conn: AsyncConnection, timer: Any, case: Any, *, now: datetime) -> list[Message]:
    """A held page whose quiet hours are over: send it, unless the case moved on."""
    await set_due(conn, timer.id, None, now)
    step = Step(timer.page["step"])
    action = Action.model_validate(timer.page["action"])
    view = CaseView.of_row(case)
    stale = None
    if case.status == CaseStatus.RESOLVED.value:
        stale = "the case was resolved meanwhile"
    elif step is Step.NOTIFY and case.acknowledged_at is not None:
        stale = "the case was acknowledged meanwhile"
    elif not action.action_id.startswith(f"{view.id}{view.generation}:"):
        stale = "the case was reopened since"
    rows = update(case_actions).where(case_actions.c.action_id == action.action_id)
    if stale is not None:
        await conn.execute(rows.values(status=store.SKIPPED, note=stale, decided_at=now))
        return []
    await conn.execute(rows.values(status=store.EMITTED, decided_at=now))
    return await store.stage_events(conn, [action], now=now)
