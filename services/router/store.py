"""Cases, their comments and the audit log: the router's tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.policy.decide import RouteDecision
from shared.events import CaseStatus, ClassifiedComment, Severity, derive_id
from shared.storage.tables import audit_log, case_comments, cases
from shared.storage.writes import insert_ignore


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
    trace_id: str,
    details: dict[str, Any],
) -> None:
    await insert_ignore(
        conn,
        audit_log,
        {
            "dedup_key": dedup_key,
            "at": at,
            "actor": "system:router",
            "action": action,
            "subject_type": "case",
            "subject_id": subject_id,
            "policy_version": policy_version,
            "reason": reason,
            "details": details,
            "trace_id": trace_id,
        },
    )


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
            opened_at=existing.opened_at,
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
        return CaseOutcome(uuid.UUID(group.id), False, True, severity, group.opened_at)

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
        )
    )
    await conn.execute(case_comments.insert().values(case_id=str(case_id), added_at=now, **member))
    await audit(
        conn,
        dedup_key=f"case-open:{case_id}",
        at=now,
        action="case.opened",
        subject_id=str(case_id),
        reason=f"route {decision.route} matched",
        policy_version=policy_version,
        trace_id=item.trace_id,
        details={
            "comment": ref.key,
            "labels": labels,
            "severity": decision.severity.value,
            "receivers": [r.name for r in decision.receivers],
        },
    )
    return CaseOutcome(case_id, True, True, decision.severity, now)
