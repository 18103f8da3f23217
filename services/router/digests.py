"""Telling a case's receivers about the comments that join it while it is open.

Each case that pages has one ``digest:<case>`` timer row besides its chain: ``started_at``
is when its receivers last heard of the case (its first page, then each notice),
``notified`` how many of its comments they have heard of (the opener included), ``reminded``
how many notices went out, ``page`` the severity they last heard. Every ``group_interval``
the row falls due and ``grouping.plan_notice`` decides: a page per new comment, one digest
when a storm piled up (``digest_after`` or more), or nothing. The notices go to the
receivers already paged in the current round, under ids derived from the case, the round
and the comment or the notice's number, so that a redelivery, a retry or a second replica
sends nothing twice. An acknowledged or resolved case gets no notices: someone is on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router import store
from services.router.actions import CaseView, comment_notice, digest
from services.router.casework import digest_timer_id, paged_receivers
from services.router.policy.config import Policy
from services.router.policy.decide import fallback_of, receiver_of
from services.router.policy.digest import DigestSummary
from services.router.policy.grouping import GroupState, Notice, plan_notice
from services.router.policy.quiet import deferred_page
from services.router.policy.tree import Grouping
from shared.bus import Message
from shared.events import Action, CaseStatus, CommentRef, Severity
from shared.storage.tables import audit_log, case_comments, case_timers
from shared.storage.writes import insert_ignore

DIGEST = "digest"
SUMMARY_LANG = "en"


def digest_timer_row(
    case_id: str,
    *,
    first_page_at: datetime,
    grouping: Grouping,
    severity: Severity,
    now: datetime,
) -> dict[str, Any]:
    """The case's digest timer: its receivers have heard of the opener at the first page."""
    return {
        "id": digest_timer_id(case_id),
        "case_id": case_id,
        "kind": DIGEST,
        "started_at": first_page_at,
        "notified": 1,
        "reminded": 0,
        "page": {"severity": severity.value},
        "due_at": first_page_at + grouping.interval,
        "updated_at": now,
    }


async def start_digests(
    conn: AsyncConnection,
    case_id: str,
    *,
    first_page_at: datetime,
    grouping: Grouping,
    severity: Severity,
    now: datetime,
) -> None:
    await insert_ignore(
        conn,
        case_timers,
        digest_timer_row(
            case_id, first_page_at=first_page_at, grouping=grouping, severity=severity, now=now
        ),
    )


async def _untold(conn: AsyncConnection, case_id: str, told: int) -> list[CommentRef]:
    """The case's comments after the first ``told``, in the order they joined it (a raid's
    case holds thousands: those already told are not read again)."""
    c = case_comments.c
    rows = await conn.execute(
        select(c.platform, c.comment_id, c.revision)
        .where(c.case_id == case_id)
        .order_by(c.added_at, c.platform, c.comment_id, c.revision)
        .offset(told)
    )
    return [CommentRef(platform=p, comment_id=i, revision=r) for p, i, r in rows]


async def _labels(conn: AsyncConnection, case_id: str, keys: list[str]) -> list[list[str]]:
    """The labels each comment had when it joined, as the audit log recorded them (the
    entries of those comments only, by their unique keys; ``placement`` writes them)."""
    entries = [f"case-open:{case_id}", *(f"case-attach:{case_id}:{key}" for key in keys)]
    rows = await conn.execute(
        select(audit_log.c.details).where(
            audit_log.c.dedup_key.in_(entries),
            audit_log.c.action.in_(("case.opened", "case.comment_added")),
        )
    )
    found = {d["comment"]: list(d.get("labels", ())) for d in rows.scalars() if d}
    return [found.get(key, []) for key in keys]


async def _set(conn: AsyncConnection, timer_id: str, now: datetime, **values: Any) -> None:
    await conn.execute(
        update(case_timers).where(case_timers.c.id == timer_id).values(updated_at=now, **values)
    )


async def advance_digest(
    conn: AsyncConnection,
    timer: Any,
    case: Any,
    *,
    policy: Policy,
    grouping: Grouping | None,
    now: datetime,
) -> list[Message]:
    """Do what the digest ``timer`` is due for; the caller holds its lock and commits."""
    if grouping is None or case.status != CaseStatus.OPEN.value:
        # Nobody to tell any more: what joined so far is not told later either.
        await _set(
            conn,
            timer.id,
            now,
            due_at=None,
            notified=await store.count_rows(
                conn, case_comments, case_comments.c.case_id == case.id
            ),
        )
        return []
    untold = await _untold(conn, case.id, timer.notified)
    state = GroupState(
        opened_at=store.aware(case.opened_at),
        untold=len(untold),
        last_told_at=store.aware(timer.started_at),
    )
    plan = plan_notice(state, grouping, now=now)
    if plan.notice is Notice.WAIT:
        await _set(conn, timer.id, now, due_at=plan.at)
        return []
    if plan.notice is Notice.NOTHING:
        await _set(conn, timer.id, now, due_at=now + grouping.interval)
        return []
    view = CaseView.of_row(case)
    receivers = await paged_receivers(conn, view)
    number = timer.reminded + 1
    actions: list[Action] = []
    summary = None
    if plan.notice is Notice.DIGEST:
        before = Severity((timer.page or {}).get("severity", case.severity))
        labels = await _labels(conn, case.id, [ref.key for ref in untold])
        summary = DigestSummary.of(labels, before=before, now=view.severity)
    for paged in receivers:
        config = policy.receivers.get(paged.name)
        if config is None:  # a policy change removed the receiver
            continue
        receiver, fallback = receiver_of(config), fallback_of(config, policy.receivers)
        if summary is not None:
            actions.append(
                digest(
                    view,
                    receiver,
                    number=number,
                    summary=summary.text(SUMMARY_LANG),
                    lang=SUMMARY_LANG,
                    policy_version=policy.version,
                    at=now,
                    fallback=fallback,
                )
            )
            continue
        actions.extend(
            comment_notice(
                view, receiver, ref, policy_version=policy.version, at=now, fallback=fallback
            )
            for ref in untold
        )
    messages = await _record(conn, actions, policy=policy, severity=view.severity, now=now)
    await _set(
        conn,
        timer.id,
        now,
        started_at=now,
        notified=timer.notified + len(untold),
        reminded=number,
        page={"severity": view.severity.value},
        due_at=now + grouping.interval,
    )
    await store.audit(
        conn,
        dedup_key=f"case-told:{view.id}{view.generation}:{number}",
        at=now,
        action="case.comments_told",
        subject_id=str(view.id),
        reason=f"{len(untold)} new comment(s): {plan.notice.value} to "
        + (", ".join(r.name for r in receivers) or "nobody (no receiver paged yet)"),
        policy_version=policy.version,
        trace_id=case.trace_id,
        details={"notice": plan.notice.value, "comments": len(untold), "number": number},
    )
    return messages


async def _record(
    conn: AsyncConnection,
    actions: list[Action],
    *,
    policy: Policy,
    severity: Severity,
    now: datetime,
) -> list[Message]:
    """Emit each notice, or keep it skipped while its receiver's quiet hours last: the
    next notice after them summarises the case anyway."""
    messages: list[Message] = []
    for action in actions:
        config = policy.receivers[action.receiver.name]
        held = deferred_page(config, policy.windows, severity=severity, at=now)
        if held is None:
            messages += await store.record_action(conn, action, status=store.EMITTED, now=now)
        else:
            note = "quiet hours: the case's next page or notice tells the receiver"
            await store.record_action(conn, action, status=store.SKIPPED, now=now, note=note)
    return messages
