"""comments.classified -> policy -> cases -> actions + case events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from services.router import store
from services.router.metrics import RouterMetrics
from services.router.policy.config import Policy
from services.router.policy.decide import RouteDecision, decide
from shared.bus import Message
from shared.codec import to_message
from shared.events import (
    Action,
    ActionKind,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    ClassifiedComment,
    derive_id,
)
from shared.runtime import Runtime
from shared.topics import ACTIONS, CASE_EVENTS

log = logging.getLogger(__name__)

GROUP = "vigie-router"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def outputs(
    item: ClassifiedComment, decision: RouteDecision, outcome: store.CaseOutcome, policy: Policy
) -> list[Message]:
    """The events one routed comment yields; their ids are stable across redeliveries."""
    case_id = outcome.case_id
    ref = item.comment.ref
    messages: list[Message] = []
    if outcome.opened_by_this_comment:
        kind, event_id = CaseEventKind.OPENED, derive_id("case-event", str(case_id), "opened")
    else:
        kind, event_id = CaseEventKind.UPDATED, derive_id("case-event", str(case_id), ref.key)
    event = CaseEvent(
        event_id=event_id,
        trace_id=item.trace_id,
        occurred_at=item.occurred_at,
        case_id=case_id,
        kind=kind,
        status=CaseStatus.OPEN,
        severity=outcome.severity,
        labels=item.classification.labels,
        comment=ref,
        policy_version=policy.version,
        reason=f"route {decision.route}",
    )
    messages.append(to_message(CASE_EVENTS, event, key=str(case_id)))
    if not outcome.opened_by_this_comment:
        return messages  # a grouped comment updates its case without paging again
    for receiver in decision.receivers:
        action_id = f"{case_id}:notify:{receiver.name}:1"
        action = Action(
            event_id=derive_id("action", action_id),
            trace_id=item.trace_id,
            occurred_at=item.occurred_at,
            action_id=action_id,
            kind=ActionKind.NOTIFY,
            case_id=case_id,
            receiver=receiver,
            severity=outcome.severity,
            labels=item.classification.labels,
            categories=item.classification.categories,
            comment=ref,
            comment_url=item.comment.url,
            case_opened_at=_aware(outcome.opened_at),
            policy_version=policy.version,
            route=decision.route,
        )
        messages.append(to_message(ACTIONS, action, key=str(case_id)))
    return messages


async def route_comment(
    runtime: Runtime, policy: Policy, item: ClassifiedComment, metrics: RouterMetrics
) -> list[Message]:
    decisions = [d for d in decide(policy, item) if d.open_case]
    if not decisions:
        return []
    for attempt in range(3):
        try:
            messages: list[Message] = []
            async with runtime.engine.begin() as conn:
                for decision in decisions:
                    outcome = await store.attach(
                        conn, decision, item, policy_version=policy.version, now=runtime.clock()
                    )
                    if outcome.opened_by_this_comment and outcome.newly_attached:
                        metrics.cases_opened.labels(outcome.severity.value, decision.route).inc()
                    messages.extend(outputs(item, decision, outcome, policy))
            return messages
        except IntegrityError:
            # Another replica opened the group's case between our read and our insert:
            # the next attempt finds it and joins it.
            log.info("case opened concurrently, retrying (attempt %d)", attempt + 1)
    raise RuntimeError("could not place the comment in a case after 3 attempts")


async def route_batch(
    runtime: Runtime, policy: Policy, batch: Sequence[ClassifiedComment], metrics: RouterMetrics
) -> list[Message]:
    out: list[Message] = []
    for item in batch:
        out.extend(await route_comment(runtime, policy, item, metrics))
    return out
