"""comments.classified -> policy -> cases, chains, actions -> outbox.

For each comment, in the transaction of its batch: the decisions of the policy (with the
open cases and the active silences that inhibit and mute), the case each decision goes to,
the case's chain timer (its first step fired at once when due) and digest timer, or, for a case a
silence mutes, a timer for the silence's end; the answer-due timer of a queued question; and
the actions the route asks for: ``auto`` ones emitted, ``requires_approval`` ones kept
pending on the case. Every event is written to the outbox in that transaction; the component
publishes it right after, and the timer loop publishes whatever a crash left behind. A batch
whose transaction meets a case another replica opened meanwhile is routed again comment by
comment, one transaction each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.capabilities import supports
from services.router import store
from services.router.actions import (
    CaseView,
    action_kind,
    case_event,
    on_comment,
    platform_receiver,
)
from services.router.answer_due import schedule_answer_due
from services.router.metrics import RouterMetrics
from services.router.policy.decide import PlannedAction, RouteDecision, decide, identity
from services.router.policy.inhibit import OpenCase
from services.router.policy.schema import ActionType, Approval
from services.router.policy.silences import Silence
from services.router.silence_ends import hold_until_silence_ends, silence_of
from services.router.silence_store import active_silences
from services.router.timers import Paging, begin_paging
from shared.bus import Message
from shared.events import CaseEventKind, CaseStatus, ClassifiedComment, Receiver, derive_id
from shared.runtime import Runtime
from shared.storage.tables import cases

log = logging.getLogger(__name__)

GROUP = "vigie-router"


@dataclass
class Context:
    """What decisions depend on besides the comment; loaded once per batch."""

    open_cases: list[OpenCase] = field(default_factory=list)
    silences: list[Silence] = field(default_factory=list)


async def load_context(engine: AsyncEngine, *, now: datetime) -> Context:
    async with engine.connect() as conn:
        return Context(await store.open_cases(conn), await active_silences(conn, now=now))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class _Routing:
    conn: AsyncConnection
    item: ClassifiedComment
    paging: Paging
    metrics: RouterMetrics
    now: datetime
    opened: list[OpenCase] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.paging.policy.version

    async def apply(self, decision: RouteDecision) -> list[Message]:
        if not decision.open_case:
            return await self._caseless(decision)
        outcome = await store.attach(
            self.conn, decision, self.item, policy_version=self.version, now=self.now
        )
        case = await store.case_row(self.conn, str(outcome.case_id))
        view = CaseView.of_row(case)
        ref = self.item.comment.ref
        opened = outcome.opened_by_this_comment
        event = case_event(
            view,
            CaseEventKind.OPENED if opened else CaseEventKind.UPDATED,
            CaseStatus(case.status),
            key="opened" if opened else ref.key,
            reason=f"route {decision.route}",
            policy_version=self.version,
            at=_aware(self.item.occurred_at),
            comment=ref,
        )
        messages = await store.stage_events(self.conn, [event], now=self.now)
        if opened and outcome.newly_attached:
            self.metrics.cases_opened.labels(outcome.severity.value, decision.route).inc()
            who = identity(self.item)
            self.opened.append(
                store.as_open_case(decision.route, case.labels, case.categories, case.severity, who)
            )
            messages += await self._start_chain(case.id, decision)
        if outcome.newly_attached:
            messages += await self._actions(view, decision, opener=opened)
        return messages

    async def _start_chain(self, case_id: str, decision: RouteDecision) -> list[Message]:
        if not decision.receivers:
            return []
        if decision.muted_by is not None:
            # A muted case is listed, not paged (critical is never muted); a silence's
            # cases page when it ends if nobody took them meanwhile.
            silence_id = silence_of(decision.muted_by)
            if silence_id is not None:
                await hold_until_silence_ends(
                    self.conn, case_id, silence_id, chain=decision.chain, now=self.now
                )
            return []
        return await begin_paging(
            self.conn,
            case_id,
            chain=decision.chain,
            grouping=decision.grouping,
            severity=decision.severity,
            paging=self.paging,
            now=self.now,
        )

    def _receivers(self, decision: RouteDecision, planned: PlannedAction) -> list[Receiver]:
        if planned.kind is ActionType.QUEUE:
            return [] if decision.muted_by else list(decision.receivers)
        comment = self.item.comment
        found = platform_receiver(comment.ref, comment.source)
        return [found] if found is not None else []

    async def _actions(
        self, view: CaseView, decision: RouteDecision, *, opener: bool
    ) -> list[Message]:
        ref = self.item.comment.ref
        messages: list[Message] = []
        for planned in decision.actions:
            if planned.kind is ActionType.REPLY and not opener:
                continue  # one reply per case, to the comment that opened it
            if planned.kind is ActionType.QUEUE and planned.sla is not None:
                await self._queue(view, self.now + planned.sla)
                await schedule_answer_due(
                    self.conn,
                    str(view.id),
                    due_at=self.now + planned.sla,
                    lang=self.item.classification.lang,
                    now=self.now,
                )
            kind = action_kind(planned.kind)
            receivers = self._receivers(decision, planned)
            base = f"{view.id}:{planned.kind.value}"
            if kind is None:
                note = f"Vigie's actions contract has no {planned.kind.value!r} yet"
                await self._skip(view, f"{base}:-:{ref.key}", planned, note)
                continue
            if not receivers:
                note = (
                    "nobody to tell; the case waits in the answer queue"
                    if planned.kind is ActionType.QUEUE
                    else f"Vigie cannot act on {ref.platform} comments"
                )
                await self._skip(view, f"{base}:-:{ref.key}", planned, note)
                continue
            for receiver in receivers:
                action = on_comment(
                    view,
                    planned,
                    kind,
                    receiver,
                    comment=ref,
                    policy_version=self.version,
                    at=self.now,
                )
                if not supports(receiver.channel, kind, ref.platform):
                    note = f"{receiver.channel.value} cannot {kind.value} on {ref.platform}"
                    await self._skip(view, action.action_id, planned, note)
                    continue
                waits = planned.approval is Approval.REQUIRES_APPROVAL
                status = store.PENDING if waits else store.EMITTED
                self.metrics.actions.labels(kind.value, status).inc()
                messages += await store.record_action(
                    self.conn, action, status=status, now=self.now
                )
                await self._audit_action(view, action.action_id, planned, status)
        return messages

    async def _queue(self, view: CaseView, due: datetime) -> None:
        await self.conn.execute(
            update(cases)
            .where(cases.c.id == str(view.id))
            .where((cases.c.answer_due_at.is_(None)) | (cases.c.answer_due_at > due))
            .values(answer_due_at=due)
        )

    async def _skip(
        self, view: CaseView, action_id: str, planned: PlannedAction, note: str
    ) -> None:
        self.metrics.actions.labels(planned.kind.value, store.SKIPPED).inc()
        await store.record_skip(
            self.conn, str(view.id), action_id, planned.kind.value, note=note, now=self.now
        )
        await self._audit_action(view, action_id, planned, store.SKIPPED, note)

    async def _audit_action(
        self,
        view: CaseView,
        action_id: str,
        planned: PlannedAction,
        status: str,
        note: str | None = None,
    ) -> None:
        await store.audit(
            self.conn,
            dedup_key=f"action-decided:{action_id}",
            at=self.now,
            action=f"action.{status}",
            subject_id=str(view.id),
            reason=note or f"route {view.route}: {planned} ({planned.approval.value})",
            policy_version=self.version,
            trace_id=self.item.trace_id,
            details={
                "action_id": action_id,
                "kind": planned.kind.value,
                "resources": list(planned.resources),
            },
        )

    async def _caseless(self, decision: RouteDecision) -> list[Message]:
        """A route without a case (praise, spam): its ``auto`` actions, keyed by comment."""
        ref = self.item.comment.ref
        comment = self.item.comment
        view = CaseView(
            id=derive_id("case", f"{decision.route}:{ref.key}"),
            route=decision.route,
            severity=decision.severity,
            labels=self.item.classification.labels,
            categories=self.item.classification.categories,
            opener=ref,
            comment_url=comment.url,
            opened_at=_aware(comment.received_at),
            trace_id=self.item.trace_id,
        )
        events = []
        for planned in decision.actions:
            kind = action_kind(planned.kind)
            receiver = platform_receiver(ref, comment.source)
            done = (
                kind is not None
                and receiver is not None
                and planned.approval is Approval.AUTO
                and supports(receiver.channel, kind, ref.platform)
            )
            if done:
                assert kind is not None and receiver is not None
                events.append(
                    on_comment(
                        view,
                        planned,
                        kind,
                        receiver,
                        comment=ref,
                        policy_version=self.version,
                        at=self.now,
                    )
                )
            status = store.EMITTED if done else store.SKIPPED
            self.metrics.actions.labels(planned.kind.value, status).inc()
            await store.audit(
                self.conn,
                dedup_key=f"action-decided:{view.id}:{planned}:{ref.key}",
                at=self.now,
                action=f"action.{status}",
                subject_id=str(view.id),
                reason=f"route {decision.route} (no case): {planned}"
                + ("" if done else " cannot be carried out on this platform"),
                policy_version=self.version,
                trace_id=self.item.trace_id,
                details={"comment": ref.key, "kind": planned.kind.value},
            )
        return await store.stage_events(self.conn, events, now=self.now)


def _decisions(paging: Paging, item: ClassifiedComment, context: Context) -> list[RouteDecision]:
    return [
        d
        for d in decide(
            paging.policy, item, open_cases=context.open_cases, silences=context.silences
        )
        if d.open_case or d.actions
    ]


async def _apply(
    conn: AsyncConnection,
    item: ClassifiedComment,
    decisions: list[RouteDecision],
    paging: Paging,
    metrics: RouterMetrics,
    now: datetime,
) -> tuple[list[Message], list[OpenCase]]:
    routing = _Routing(conn, item, paging, metrics, now)
    messages: list[Message] = []
    for decision in decisions:
        messages += await routing.apply(decision)
    return messages, routing.opened


async def route_comment(
    runtime: Runtime,
    paging: Paging,
    item: ClassifiedComment,
    metrics: RouterMetrics,
    *,
    context: Context | None = None,
) -> list[Message]:
    """Route one comment; the events it staged in the outbox (committed) are returned."""
    context = context or await load_context(runtime.engine, now=runtime.clock())
    decisions = _decisions(paging, item, context)
    if not decisions:
        return []
    for attempt in range(3):
        try:
            async with runtime.engine.begin() as conn:
                messages, opened = await _apply(
                    conn, item, decisions, paging, metrics, runtime.clock()
                )
            context.open_cases.extend(opened)
            return messages
        except IntegrityError:
            # Another replica opened the group's case between our read and our insert:
            # the next attempt finds it and joins it.
            log.info("case opened concurrently, retrying (attempt %d)", attempt + 1)
    raise RuntimeError("could not place the comment in a case after 3 attempts")


async def _route_together(
    runtime: Runtime,
    paging: Paging,
    batch: Sequence[ClassifiedComment],
    metrics: RouterMetrics,
    context: Context,
) -> list[Message]:
    """Route a batch in one transaction: one commit (one WAL flush) for the whole batch.

    Each comment is decided against the cases the earlier ones opened, as one at a time
    would; nothing of the batch is kept should any part of it fail.
    """
    working = Context(list(context.open_cases), context.silences)
    out: list[Message] = []
    async with runtime.engine.begin() as conn:
        for item in batch:
            decisions = _decisions(paging, item, working)
            if not decisions:
                continue
            messages, opened = await _apply(conn, item, decisions, paging, metrics, runtime.clock())
            working.open_cases.extend(opened)
            out += messages
    return out


async def route_batch(
    runtime: Runtime,
    paging: Paging,
    batch: Sequence[ClassifiedComment],
    metrics: RouterMetrics,
) -> list[Message]:
    context = await load_context(runtime.engine, now=runtime.clock())
    if len(batch) > 1:
        try:
            return await _route_together(runtime, paging, batch, metrics, context)
        except IntegrityError:
            # Another replica opened one of these cases meanwhile: route comment by comment,
            # each retrying on its own, on a fresh view of the open cases.
            log.info("case opened concurrently; routing the batch comment by comment")
            context = await load_context(runtime.engine, now=runtime.clock())
    out: list[Message] = []
    for item in batch:
        out.extend(await route_comment(runtime, paging, item, metrics, context=context))
    return out
