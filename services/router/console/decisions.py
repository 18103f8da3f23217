"""What a moderator decides about a case's actions, beyond approving one (``casework``):
reject an action that waits for approval, or reply to the case's comment with one of the
policy's approved templates. Each runs in the caller's transaction, writes the audit log
with the actor and the reason, and stages what is to be published.

A reply's id is the one the policy would give it (one reply per comment and receiver): if
the route already replied, or has a reply waiting for approval, a second one is refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, desc, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.capabilities import supports
from services.router import store
from services.router.actions import CaseView, on_comment, platform_receiver
from services.router.casework import NotFound, pending_action
from services.router.policy.config import Policy
from services.router.policy.decide import PlannedAction
from services.router.policy.replies import render
from services.router.policy.schema import ActionType, Approval
from shared.bus import Message
from shared.events import Action, ActionKind
from shared.storage.tables import case_actions, classifications, comments


class ReplyRefused(ValueError):
    """Why no reply can go out (no template, no adapter, a reply exists...)."""


async def reject(
    conn: AsyncConnection,
    case_id: str,
    action_id: str,
    *,
    actor: str,
    reason: str,
    policy_version: str,
    now: datetime,
) -> None:
    """Drop an action that waited for approval: it is kept as skipped, with who and why."""
    row = await store.case_row(conn, case_id, lock=True)
    if row is None:
        raise NotFound(f"no case {case_id}")
    pending = await pending_action(conn, case_id, action_id)
    await conn.execute(
        update(case_actions)
        .where(case_actions.c.action_id == action_id)
        .values(status=store.SKIPPED, decided_at=now, decided_by=actor, note=f"rejected: {reason}")
    )
    await store.audit(
        conn,
        dedup_key=f"action-reject:{action_id}",
        at=now,
        action="action.rejected",
        subject_id=case_id,
        reason=reason,
        policy_version=policy_version,
        trace_id=row.trace_id,
        details={"action_id": action_id, "kind": pending.kind},
        actor=actor,
    )


async def _comment_facts(conn: AsyncConnection, case: CaseView) -> tuple[str, str | None]:
    """The opener's source (account, page) and the language it was classified in."""
    ref = case.opener
    source = (
        await conn.execute(
            select(comments.c.source).where(
                and_(
                    comments.c.platform == ref.platform,
                    comments.c.comment_id == ref.comment_id,
                    comments.c.revision == ref.revision,
                )
            )
        )
    ).scalar()
    if source is None:
        raise ReplyRefused("the comment is not stored: Vigie cannot tell where to reply")
    lang = (
        await conn.execute(
            select(classifications.c.lang)
            .where(
                classifications.c.platform == ref.platform,
                classifications.c.comment_id == ref.comment_id,
            )
            .order_by(desc(classifications.c.revision), desc(classifications.c.classified_at))
            .limit(1)
        )
    ).scalar()
    return str(source), lang


async def reply_with_template(
    conn: AsyncConnection,
    policy: Policy,
    case_id: str,
    template_name: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> tuple[Action, list[Message]]:
    row = await store.case_row(conn, case_id, lock=True)
    if row is None:
        raise NotFound(f"no case {case_id}")
    template = policy.templates.get(template_name)
    if template is None:
        raise ReplyRefused(f"no template {template_name!r} in the policy")
    case = CaseView.of_row(row)
    source, lang = await _comment_facts(conn, case)
    receiver = platform_receiver(case.opener, source)
    if receiver is None or not supports(receiver.channel, ActionKind.REPLY, case.opener.platform):
        raise ReplyRefused(f"Vigie cannot reply on {case.opener.platform}")
    country = next((r.country for r in policy.routes if r.name == case.route), None)
    try:
        text = render(template, lang=lang or "", country=country, directory=policy.directory)
    except ValueError as exc:
        raise ReplyRefused(str(exc)) from exc
    planned = PlannedAction(
        kind=ActionType.REPLY,
        approval=Approval.AUTO,
        template=template_name,
        text=text.text,
        lang=text.lang,
        resources=text.resources,
    )
    action = on_comment(
        case,
        planned,
        ActionKind.REPLY,
        receiver,
        comment=case.opener,
        policy_version=policy.version,
        at=now,
    )
    existing = (
        await conn.execute(
            select(case_actions.c.status).where(case_actions.c.action_id == action.action_id)
        )
    ).scalar()
    if existing is not None:
        raise ReplyRefused(f"this comment already has a reply ({existing})")
    messages = await store.record_action(conn, action, status=store.EMITTED, now=now)
    await store.audit(
        conn,
        dedup_key=f"action-reply:{action.action_id}",
        at=now,
        action="action.replied",
        subject_id=case_id,
        reason=reason,
        policy_version=policy.version,
        trace_id=row.trace_id,
        details={
            "action_id": action.action_id,
            "template": template_name,
            "resources": list(text.resources),
        },
        actor=actor,
    )
    return action, messages
