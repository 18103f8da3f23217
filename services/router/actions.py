"""The events the router emits about a case, built from what the database holds. Pure.

Every id is derived from what the event is about (the case, its generation, the step, the
receiver or the comment), never from the time: whoever builds an event again (a redelivery,
a second replica, a restart) builds the same id, and the outbox and the notifier keep one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.router.policy.decide import PlannedAction
from services.router.policy.escalation import Step
from services.router.policy.schema import ActionType
from shared.events import (
    Action,
    ActionKind,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    Channel,
    CommentRef,
    Label,
    Receiver,
    Severity,
    derive_id,
)

# Where the notifier can act on a comment itself; the target names the token setting,
# which is the account the comment arrived on (VIGIE_META_PAGE_TOKENS='{"<page id>": ...}').
_PLATFORM_CHANNELS = {"facebook": Channel.META, "instagram": Channel.META, "x": Channel.X}


@dataclass(frozen=True, slots=True)
class CaseView:
    """What an event needs to say about its case."""

    id: uuid.UUID
    route: str
    severity: Severity
    labels: tuple[Label, ...]
    categories: tuple[str, ...]
    opener: CommentRef
    comment_url: str | None
    opened_at: datetime
    trace_id: str
    reopen_count: int = 0

    @property
    def generation(self) -> str:
        """Part of every id after a reopening, so that the new round is not deduplicated."""
        return f":r{self.reopen_count}" if self.reopen_count else ""

    @classmethod
    def of_row(cls, row: Any) -> CaseView:
        opener = row.opener or {"platform": "unknown", "comment_id": row.opened_by}
        return cls(
            id=uuid.UUID(row.id),
            route=row.route,
            severity=Severity(row.severity),
            labels=tuple(Label(label) for label in row.labels),
            categories=tuple(row.categories or ()),
            opener=CommentRef.model_validate(opener),
            comment_url=row.comment_url,
            opened_at=row.opened_at if row.opened_at.tzinfo else row.opened_at.replace(tzinfo=UTC),
            trace_id=row.trace_id,
            reopen_count=row.reopen_count or 0,
        )


def platform_receiver(comment: CommentRef, source: str) -> Receiver | None:
    """Who acts on the comment on its platform; None where Vigie has no adapter."""
    channel = _PLATFORM_CHANNELS.get(comment.platform)
    if channel is None:
        return None
    return Receiver(name=f"{comment.platform}:{source}", channel=channel, target=source)


def action_kind(kind: ActionType) -> ActionKind | None:
    """The wire kind of a policy action; None while the contract lacks it (``like``)."""
    try:
        return ActionKind(kind.value)
    except ValueError:
        return None


def _action(
    case: CaseView,
    action_id: str,
    kind: ActionKind,
    receiver: Receiver,
    *,
    comment: CommentRef,
    policy_version: str,
    at: datetime,
    **extra: Any,
) -> Action:
    return Action(
        event_id=derive_id("action", action_id),
        trace_id=case.trace_id,
        occurred_at=at,
        action_id=action_id,
        kind=kind,
        case_id=case.id,
        receiver=receiver,
        severity=case.severity,
        labels=case.labels,
        categories=case.categories,
        comment=comment,
        comment_url=case.comment_url if comment == case.opener else None,
        case_opened_at=case.opened_at,
        policy_version=policy_version,
        route=case.route,
        **extra,
    )


def page_id(case: CaseView, receiver: str, step: Step, number: int) -> str:
    return f"{case.id}{case.generation}:{step.value}:{receiver}:{number}"


def page(
    case: CaseView,
    receiver: Receiver,
    *,
    step: Step,
    number: int,
    policy_version: str,
    at: datetime,
    ack_url: str | None = None,
    fallback: Receiver | None = None,
) -> Action:
    """A page of a chain step (``notify``) or a reminder past the SLA (``remind``)."""
    return _action(
        case,
        page_id(case, receiver.name, step, number),
        ActionKind.NOTIFY,
        receiver,
        comment=case.opener,
        policy_version=policy_version,
        at=at,
        ack_url=ack_url,
        fallback=fallback,
    )


def comment_notice(
    case: CaseView,
    receiver: Receiver,
    comment: CommentRef,
    *,
    policy_version: str,
    at: datetime,
    fallback: Receiver | None = None,
) -> Action:
    """Tell a receiver already paged that ``comment`` joined the case."""
    return _action(
        case,
        f"{case.id}{case.generation}:comment:{receiver.name}:{comment.key}",
        ActionKind.NOTIFY,
        receiver,
        comment=comment,
        policy_version=policy_version,
        at=at,
        fallback=fallback,
    )


def digest(
    case: CaseView,
    receiver: Receiver,
    *,
    number: int,
    summary: str,
    lang: str,
    policy_version: str,
    at: datetime,
    fallback: Receiver | None = None,
) -> Action:
    """The ``number``-th digest of the case to a receiver already paged: one notice for a
    storm of comments, its summary in ``message``."""
    return _action(
        case,
        f"{case.id}{case.generation}:digest:{receiver.name}:{number}",
        ActionKind.NOTIFY,
        receiver,
        comment=case.opener,
        policy_version=policy_version,
        at=at,
        fallback=fallback,
        message=summary,
        lang=lang,
    )


ANSWER_DUE_TEXT = {
    "en": "Answer due since {time}",
    "fr": "Réponse attendue depuis le {time}",
}


def answer_due_text(due_at: datetime, lang: str | None) -> tuple[str, str]:
    """The reminder's text and its language: the case's when known, else English."""
    chosen = lang if lang in ANSWER_DUE_TEXT else "en"
    time = due_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return ANSWER_DUE_TEXT[chosen].format(time=time), chosen


def answer_due(
    case: CaseView,
    receiver: Receiver,
    *,
    due_at: datetime,
    lang: str | None,
    policy_version: str,
    at: datetime,
    fallback: Receiver | None = None,
) -> Action:
    """Remind a receiver that the case's queued question is still unanswered."""
    message, chosen = answer_due_text(due_at, lang)
    return _action(
        case,
        f"{case.id}{case.generation}:answer-due:{receiver.name}",
        ActionKind.NOTIFY,
        receiver,
        comment=case.opener,
        policy_version=policy_version,
        at=at,
        fallback=fallback,
        message=message,
        lang=chosen,
    )


def follow_up(
    case: CaseView,
    receiver: Receiver,
    kind: ActionKind,
    *,
    policy_version: str,
    at: datetime,
    by: str | None = None,
) -> Action:
    """Tell a receiver already paged that the case was acknowledged or resolved; ``message``
    says by whom (the actor: a person, ``link:<receiver>`` or ``system:...``)."""
    action_id = f"{case.id}{case.generation}:{kind.value}:{receiver.name}"
    return _action(
        case,
        action_id,
        kind,
        receiver,
        comment=case.opener,
        policy_version=policy_version,
        at=at,
        message=by,
    )


def on_comment(
    case: CaseView,
    planned: PlannedAction,
    kind: ActionKind,
    receiver: Receiver,
    *,
    comment: CommentRef,
    policy_version: str,
    at: datetime,
) -> Action:
    """A reply, hide, queue or like about one comment of the case."""
    return _action(
        case,
        f"{case.id}:{kind.value}:{receiver.name}:{comment.key}",
        kind,
        receiver,
        comment=comment,
        policy_version=policy_version,
        at=at,
        message=planned.text,
        lang=planned.lang,
    )


def case_event(
    case: CaseView,
    kind: CaseEventKind,
    status: CaseStatus,
    *,
    key: str,
    reason: str,
    policy_version: str,
    at: datetime,
    comment: CommentRef | None = None,
) -> CaseEvent:
    """``key`` names the change (``acknowledged:r1``, a comment's key...) for the event id."""
    return CaseEvent(
        event_id=derive_id("case-event", str(case.id), key),
        trace_id=case.trace_id,
        occurred_at=at,
        case_id=case.id,
        kind=kind,
        status=status,
        severity=case.severity,
        labels=case.labels,
        comment=comment,
        policy_version=policy_version,
        reason=reason,
    )
