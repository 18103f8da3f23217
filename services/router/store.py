"""Cases, their comments, their actions and the audit log: the router's tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.outbox import stage
from services.router.policy.decide import RouteDecision, identity
from services.router.policy.inhibit import OpenCase
from shared.bus import Message
from shared.codec import to_message
from shared.events import Action, CaseStatus, ClassifiedComment, Severity, derive_id
from shared.storage.tables import audit_log, case_actions, case_comments, cases
from shared.storage.writes import insert_ignore
from shared.topics import ACTIONS, CASE_EVENTS

SYSTEM = "system:router"

# case_actions.status
PENDING = "pending"  # waits for a moderator's approval
EMITTED = "emitted"  # handed to the notifier
HELD = "held"  # a page waiting for the end of its receiver's quiet hours
SKIPPED = "skipped"  # decided, but nothing can carry it out (see the note)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive times; everything the router stores is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    case_id: uuid.UUID
    opened_by_this_comment: bool
    newly_attached: bool
    severity: Severity
    opened_at: datetime


async def audit(
    conn: AsyncConnection,
    *,
    dedup_key: str,
    at: datetime,
    action: str,
    subject_id: str,
    reason: str,
    policy_version: str,
    trace_id: str | None,
    details: dict[str, Any],
    actor: str = SYSTEM,
    subject_type: str = "case",
) -> None:
    await insert_ignore(
        conn,
        audit_log,
        {
            "dedup_key": dedup_key,
            "at": at,
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "policy_version": policy_version,
            "reason": reason,
            "details": details,
            "trace_id": trace_id,
        },
    )


async def case_row(conn: AsyncConnection, case_id: str, *, lock: bool = False) -> Any:
    query = select(cases).where(cases.c.id == case_id)
    return (await conn.execute(query.with_for_update() if lock else query)).first()


async def record_action(
    conn: AsyncConnection,
    action: Action,
    *,
    status: str,
    now: datetime,
    note: str | None = None,
) -> list[Message]:
    """Put the action in its case's ledger; an emitted one goes to the outbox too."""
    inserted = await insert_ignore(
        conn,
        case_actions,
        {
            "action_id": action.action_id,
            "case_id": str(action.case_id),
            "kind": action.kind.value,
            "receiver": action.receiver.name,
            "status": status,
            "payload": action.model_dump(mode="json"),
            "note": note,
            "created_at": now,
        },
    )
    if not inserted or status != EMITTED:
        return []
    return await stage_events(conn, [action], now=now)


async def record_skip(
    conn: AsyncConnection, case_id: str, action_id: str, kind: str, *, note: str, now: datetime
) -> None:
    """An action the route asks for that nothing can carry out, kept with the reason."""
    await insert_ignore(
        conn,
        case_actions,
        {
            "action_id": action_id,
            "case_id": case_id,
            "kind": kind,
            "status": SKIPPED,
            "note": note,
            "created_at": now,
        },
    )


async def stage_events(conn: AsyncConnection, events: list[Any], *, now: datetime) -> list[Message]:
    """Events (actions, case events) into the outbox, keyed by their case."""
    messages = [to_message(_topic(e), e, key=str(e.case_id)) for e in events]
    await stage(conn, messages, now=now)
    return messages


def _topic(event: Any) -> str:
    return ACTIONS if isinstance(event, Action) else CASE_EVENTS


async def open_cases(conn: AsyncConnection, *, limit: int = 10_000) -> list[OpenCase]:
    """Unresolved cases as inhibition sees them (the most recent ``limit``)."""
    rows = (
        await conn.execute(
            select(
                cases.c.route,
                cases.c.labels,
                cases.c.categories,
                cases.c.severity,
                cases.c.identity,
            )
            .where(cases.c.status != CaseStatus.RESOLVED.value, cases.c.identity.is_not(None))
            .order_by(cases.c.opened_at.desc())
            .limit(limit)
        )
    ).all()
    return [
        as_open_case(r.route, r.labels, r.categories or [], r.severity, r.identity) for r in rows
    ]


def as_open_case(
    route: str, labels: list[str], categories: list[str], severity: str, who: dict[str, str]
) -> OpenCase:
    facts = {
        "label": tuple(labels),
        "category": tuple(categories),
        "severity": (severity,),
        **{name: (value,) for name, value in who.items() if name != "label"},
    }
    return OpenCase(route=route, facts=facts, identity=dict(who))


async def attach(
    conn: AsyncConnection,
    decision: RouteDecision,
    item: ClassifiedComment,
    *,
    policy_version: str,
    now: datetime,
) -> CaseOutcome:
    """Put the comment in its case: the one it is already in, the open one of its group,
    or a new one. Idempotent: a redelivered comment finds the case it was put in."""
    ref = item.comment.ref
    opened_key = f"{decision.route}:{ref.key}"
    existing = (
        await conn.execute(
            select(cases)
            .join(case_comments, case_comments.c.case_id == cases.c.id)
            .where(
                and_(
                    case_comments.c.platform == ref.platform,
                    case_comments.c.comment_id == ref.comment_id,
                    case_comments.c.revision == ref.revision,
                    cases.c.route == decision.route,
                )
            )
        )
    ).first()
    if existing is not None:
        return CaseOutcome(
            case_id=uuid.UUID(existing.id),
            opened_by_this_comment=existing.opened_by == opened_key,
            newly_attached=False,
            severity=Severity(existing.severity),
            opened_at=aware(existing.opened_at),
        )
    member = {"platform": ref.platform, "comment_id": ref.comment_id, "revision": ref.revision}
    labels = [label.value for label in item.classification.labels]
    group = (
        await conn.execute(
            select(cases).where(
                and_(cases.c.group_key == decision.group_key, cases.c.status != "resolved")
            )
        )
    ).first()
    if group is not None:
        severity = max(Severity(group.severity), decision.severity, key=lambda s: s.rank)
        await conn.execute(
            update(cases)
            .where(cases.c.id == group.id)
            .values(severity=severity.value, updated_at=now)
        )
        await insert_ignore(conn, case_comments, {"case_id": group.id, "added_at": now, **member})
        await audit(
            conn,
            dedup_key=f"case-attach:{group.id}:{ref.key}",
            at=now,
            action="case.comment_added",
            subject_id=group.id,
            reason=f"route {decision.route} grouped the comment into the open case",
            policy_version=policy_version,
            trace_id=item.trace_id,
            details={"comment": ref.key, "labels": labels},
        )
        return CaseOutcome(uuid.UUID(group.id), False, True, severity, aware(group.opened_at))

    case_id = derive_id("case", opened_key)
    await conn.execute(
        cases.insert().values(
            id=str(case_id),
            group_key=decision.group_key,
            status=CaseStatus.OPEN.value,
            severity=decision.severity.value,
            labels=labels,
            route=decision.route,
            policy_version=policy_version,
            opened_by=opened_key,
            opened_at=now,
            updated_at=now,
            trace_id=item.trace_id,
            categories=list(item.classification.categories),
            opener=ref.model_dump(mode="json"),
            comment_url=item.comment.url,
            identity=identity(item),
            muted_by=decision.muted_by,
            reopen_count=0,
        )
    )
    await conn.execute(case_comments.insert().values(case_id=str(case_id), added_at=now, **member))
    await audit(
        conn,
        dedup_key=f"case-open:{case_id}",
        at=now,
        action="case.opened",
        subject_id=str(case_id),
        reason=f"route {decision.route} matched"
        + (f"; pages muted by {decision.muted_by}" if decision.muted_by else ""),
        policy_version=policy_version,
        trace_id=item.trace_id,
        details={
            "comment": ref.key,
            "labels": labels,
            "severity": decision.severity.value,
            "receivers": [r.name for r in decision.receivers],
            "chain": decision.chain,
            "muted_by": decision.muted_by,
            "deferred": [d.receiver for d in decision.deferred],
        },
    )
    return CaseOutcome(case_id, True, True, decision.severity, now)
