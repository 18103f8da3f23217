"""What people (and the chain's ``then: resolve``) do to a case: acknowledge, resolve,
reopen, assign, approve a pending action. Each runs in the caller's transaction, writes the
audit log with the actor, the reason and the policy version, and stages its events.

Locks are taken in one order everywhere, the case's timers first and the case next, as the
timer loop does, so that an acknowledgement and a due step never deadlock: whichever
commits first is seen by the other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.capabilities import supports
from services.router import store
from services.router.actions import CaseView, case_event, follow_up
from services.router.lifecycle import InvalidTransition, Transition, move
from services.router.policy.escalation import Step
from shared.bus import Message
from shared.events import Action, ActionKind, CaseEventKind, CaseStatus, Receiver
from shared.metrics import platform_time
from shared.storage.tables import audit_log, case_actions, case_timers, cases, comments

_EVENT_KINDS = {
    Transition.ACKNOWLEDGE: CaseEventKind.ACKNOWLEDGED,
    Transition.RESOLVE: CaseEventKind.RESOLVED,
    Transition.REOPEN: CaseEventKind.OPENED,
}
_FOLLOW_UPS = {
    Transition.ACKNOWLEDGE: ActionKind.ACKNOWLEDGE,
    Transition.RESOLVE: ActionKind.RESOLVE,
}


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    """The change would break an invariant (two open cases for one group)."""


@dataclass(frozen=True, slots=True)
class FirstAck:
    """A case's first acknowledgement: what time-to-acknowledge and time-to-human measure."""

    severity: str
    opened_at: datetime
    acknowledged_at: datetime
    comment_at: datetime | None  # the platform time of the case's first comment, if stored


@dataclass(frozen=True, slots=True)
class Done:
    case: Any  # the case row after the change
    changed: bool
    messages: list[Message]
    first_ack: FirstAck | None = None  # set when this change is the case's first acknowledgement


def chain_timer_id(case_id: str) -> str:
    return f"chain:{case_id}"


def digest_timer_id(case_id: str) -> str:
    return f"digest:{case_id}"


async def _lock(conn: AsyncConnection, case_id: str) -> Any:
    await conn.execute(
        select(case_timers.c.id).where(case_timers.c.case_id == case_id).with_for_update()
    )
    row = await store.case_row(conn, case_id, lock=True)
    if row is None:
        raise NotFound(f"no case {case_id}")
    return row


async def pending_action(conn: AsyncConnection, case_id: str, action_id: str) -> Any:
    """The case's action that waits for approval, locked; NotFound, or InvalidTransition
    when it was already decided."""
    pending = (
        await conn.execute(
            select(case_actions)
            .where(case_actions.c.action_id == action_id, case_actions.c.case_id == case_id)
            .with_for_update()
        )
    ).first()
    if pending is None:
        raise NotFound(f"no action {action_id!r} on case {case_id}")
    if pending.status != store.PENDING:
        raise InvalidTransition(f"the action is {pending.status}, not waiting for approval")
    return pending


async def paged_receivers(conn: AsyncConnection, case: CaseView) -> list[Receiver]:
    """The receivers paged in the case's current round, in the order first paged."""
    rows = (
        await conn.execute(
            select(case_actions.c.action_id, case_actions.c.payload)
            .where(
                case_actions.c.case_id == str(case.id),
                case_actions.c.kind == ActionKind.NOTIFY.value,
                case_actions.c.status == store.EMITTED,
            )
            .order_by(case_actions.c.created_at)
        )
    ).all()
    prefixes = tuple(f"{case.id}{case.generation}:{s.value}:" for s in (Step.NOTIFY, Step.REMIND))
    found: dict[str, Receiver] = {}
    for row in rows:
        if row.action_id.startswith(prefixes):
            receiver = Receiver.model_validate(row.payload["receiver"])
            found.setdefault(receiver.name, receiver)
    return list(found.values())


def _values(transition: Transition, actor: str, now: datetime, row: Any) -> dict[str, Any]:
    if transition is Transition.ACKNOWLEDGE:
        return {"acknowledged_at": now, "acknowledged_by": actor}
    if transition is Transition.RESOLVE:
        return {"resolved_at": now}
    return {
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "reopen_count": (row.reopen_count or 0) + 1,
    }


async def _wake_timers(
    conn: AsyncConnection, case_id: str, transition: Transition, now: datetime
) -> None:
    timers = case_timers.c
    if transition is Transition.RESOLVE:
        # Nothing is due for a resolved case: no step, no held page, no reminder.
        await conn.execute(update(case_timers).where(timers.case_id == case_id).values(due_at=None))
        await conn.execute(
            update(case_actions)
            .where(case_actions.c.case_id == case_id, case_actions.c.status == store.HELD)
            .values(status=store.SKIPPED, note="the case was resolved first", decided_at=now)
        )
        return
    values: dict[str, Any] = {"due_at": now, "updated_at": now}
    if transition is Transition.REOPEN:
        values |= {"started_at": now, "notified": 0, "reminded": 0}
    # Acknowledged: the chain stops paging and schedules its reminders from now on.
    await conn.execute(
        update(case_timers).where(timers.id == chain_timer_id(case_id)).values(**values)
    )
    if transition is Transition.REOPEN:
        # Digests resume from the new round's first page; an acknowledged case gets none.
        await conn.execute(
            update(case_timers)
            .where(timers.id == digest_timer_id(case_id))
            .values(due_at=now, started_at=now, updated_at=now)
        )


async def _first_ack(conn: AsyncConnection, row: Any, now: datetime) -> FirstAck | None:
    """Called before this acknowledgement is audited: None if the case had one already."""
    earlier = await conn.execute(
        select(audit_log.c.id)
        .where(audit_log.c.subject_id == row.id, audit_log.c.action == "case.acknowledge")
        .limit(1)
    )
    if earlier.first() is not None:
        return None
    opener = row.opener or {}
    comment = (
        await conn.execute(
            select(comments.c.kind, comments.c.created_at, comments.c.received_at)
            .where(
                comments.c.platform == opener.get("platform"),
                comments.c.comment_id == opener.get("comment_id"),
                comments.c.revision == opener.get("revision", 0),
            )
            .limit(1)
        )
    ).first()
    comment_at = None
    if comment is not None:
        created = store.aware_or_none(comment.created_at)
        comment_at = platform_time(comment.kind, created, store.aware(comment.received_at))
    return FirstAck(row.severity, store.aware(row.opened_at), now, comment_at)


async def transition(
    conn: AsyncConnection,
    case_id: str,
    change: Transition,
    *,
    actor: str,
    reason: str,
    policy_version: str,
    now: datetime,
    audit_key: str | None = None,
) -> Done:
    """``audit_key`` makes a system change idempotent; a person's change is recorded each
    time it happens."""
    row = await _lock(conn, case_id)
    step = move(CaseStatus(row.status), change)
    if not step.changed:
        return Done(row, False, [])
    try:
        await conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(status=step.status.value, updated_at=now, **_values(change, actor, now, row))
        )
    except IntegrityError as exc:
        raise Conflict("another case of the same group is open; work on that one") from exc
    await _wake_timers(conn, case_id, change, now)
    first_ack = None
    if change is Transition.ACKNOWLEDGE and actor != store.SYSTEM:
        first_ack = await _first_ack(conn, row, now)
    after = await store.case_row(conn, case_id)
    view = CaseView.of_row(after)
    key = audit_key or f"{change.value}:{uuid.uuid4()}"
    await store.audit(
        conn,
        dedup_key=f"case-{key}:{case_id}",
        at=now,
        action=f"case.{change.value}",
        subject_id=case_id,
        reason=reason,
        policy_version=policy_version,
        trace_id=row.trace_id,
        details={"from": row.status, "to": step.status.value, "case_policy": row.policy_version},
        actor=actor,
    )
    events: list[Any] = [
        case_event(
            view,
            _EVENT_KINDS[change],
            step.status,
            key=f"{change.value}:{after.reopen_count or 0}:{key}",
            reason=reason,
            policy_version=policy_version,
            at=now,
        )
    ]
    kind = _FOLLOW_UPS.get(change)
    if kind is not None:
        for receiver in await paged_receivers(conn, view):
            if supports(receiver.channel, kind, view.opener.platform):
                events.append(
                    follow_up(view, receiver, kind, policy_version=policy_version, at=now, by=actor)
                )
    return Done(after, True, await store.stage_events(conn, events, now=now), first_ack)


async def assign(
    conn: AsyncConnection,
    case_id: str,
    *,
    assignee: str | None,
    actor: str,
    reason: str,
    policy_version: str,
    now: datetime,
) -> Done:
    row = await _lock(conn, case_id)
    await conn.execute(
        update(cases).where(cases.c.id == case_id).values(assignee=assignee, updated_at=now)
    )
    key = str(uuid.uuid4())
    await store.audit(
        conn,
        dedup_key=f"case-assign:{key}",
        at=now,
        action="case.assign",
        subject_id=case_id,
        reason=reason,
        policy_version=policy_version,
        trace_id=row.trace_id,
        details={"from": row.assignee, "to": assignee},
        actor=actor,
    )
    after = await store.case_row(conn, case_id)
    event = case_event(
        CaseView.of_row(after),
        CaseEventKind.UPDATED,
        CaseStatus(after.status),
        key=f"assigned:{key}",
        reason=reason,
        policy_version=policy_version,
        at=now,
    )
    return Done(after, True, await store.stage_events(conn, [event], now=now))


async def approve(
    conn: AsyncConnection,
    case_id: str,
    action_id: str,
    *,
    actor: str,
    reason: str,
    policy_version: str,
    now: datetime,
) -> tuple[Action, list[Message]]:
    """Send an action that waited for approval, exactly as it was decided."""
    row = await _lock(conn, case_id)
    pending = await pending_action(conn, case_id, action_id)
    action = Action.model_validate(pending.payload)
    await conn.execute(
        update(case_actions)
        .where(case_actions.c.action_id == action_id)
        .values(status=store.EMITTED, decided_at=now, decided_by=actor)
    )
    await store.audit(
        conn,
        dedup_key=f"action-approve:{action_id}",
        at=now,
        action="action.approved",
        subject_id=case_id,
        reason=reason,
        policy_version=policy_version,
        trace_id=row.trace_id,
        details={"action_id": action_id, "kind": action.kind.value},
        actor=actor,
    )
    return action, await store.stage_events(conn, [action], now=now)
