"""The routing of one batch, in the transaction the worker opened for it.

Each comment is decided against the open cases that can inhibit it (read for the batch, and
those the batch opened) and the active silences, and placed in its case (``placement``);
the rows this makes are collected in ``BatchWrites`` and written when the batch ends, one
statement per table. A case whose first page is due at once has its first round planned
in memory (``chain_pages.first_round``) and written with it. Metric increments wait for the
commit (``Counts``).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.capabilities import supports
from services.router import store
from services.router.actions import (
    CaseView,
    action_kind,
    case_event,
    on_comment,
    platform_receiver,
)
from services.router.answer_due import answer_due_row
from services.router.batch_writes import BatchWrites
from services.router.chain_pages import FirstRound, first_round
from services.router.metrics import RouterMetrics
from services.router.outbox import outbox_row
from services.router.placement import Cases
from services.router.policy.decide import PlannedAction, RouteDecision, decide, identity
from services.router.policy.inhibit import OpenCase, Sources
from services.router.policy.schema import ActionType, Approval
from services.router.policy.silences import Silence
from services.router.policy.tree import Route
from services.router.silence_ends import silence_ends_at, silence_of, silenced_timer_row
from services.router.timers import Paging, begin_paging, waiting_paging_rows
from shared.bus import Message
from shared.events import CaseEventKind, ClassifiedComment, Receiver, derive_id


@dataclass
class Context:
    """What decisions depend on besides the comment and its batch: the open cases that can
    inhibit the comments it was loaded for, and the active silences."""

    sources: Sources
    silences: list[Silence] = field(default_factory=list)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Counts:
    """Metric increments, applied once the transaction is committed: one ``labels()``
    lookup per distinct child and batch, and nothing counted for a batch rolled back."""

    def __init__(self) -> None:
        self._tally: Tally[tuple[Any, tuple[str, ...]]] = Tally()

    def add(self, counter: Any, *labels: str) -> None:
        self._tally[(counter, labels)] += 1

    def apply(self) -> None:
        for (counter, labels), count in self._tally.items():
            counter.labels(*labels).inc(count)


class BatchRouting:
    """The routing of one batch in one transaction."""

    def __init__(
        self,
        conn: AsyncConnection,
        paging: Paging,
        metrics: RouterMetrics,
        context: Context,
        cases: Cases,
    ) -> None:
        self.conn = conn
        self.paging = paging
        self.metrics = metrics
        self.context = context
        self.cases = cases
        self.own = Sources(context.sources.fields)
        self.opened: list[OpenCase] = []
        self.writes = BatchWrites()
        self.counts = Counts()
        self.out: list[Message] = []

    @property
    def version(self) -> str:
        return self.paging.policy.version

    async def flush(self) -> None:
        if self.writes:
            self.out += await store.write(self.conn, self.writes)
            self.writes = BatchWrites()

    def _stage(self, event: Any, now: datetime, *, unless_known_action: str | None = None) -> None:
        message = store.event_message(event)
        self.writes.stage(
            outbox_row(message, now), message, unless_known_action=unless_known_action
        )

    def decisions(self, item: ClassifiedComment, routes: Sequence[Route]) -> list[RouteDecision]:
        if not routes:
            return []
        who = identity(item)
        sources = (*self.context.sources.near(who), *self.own.near(who))
        decided = decide(
            self.paging.policy,
            item,
            open_cases=sources,
            silences=self.context.silences,
            routes=routes,
        )
        return [d for d in decided if d.open_case or d.actions]

    async def route(self, item: ClassifiedComment, routes: Sequence[Route], now: datetime) -> None:
        for decision in self.decisions(item, routes):
            await self.apply(item, decision, now)

    async def apply(self, item: ClassifiedComment, decision: RouteDecision, now: datetime) -> None:
        if not decision.open_case:
            self._caseless(item, decision, now)
            return
        placed = self.cases.place(self.writes, decision, item, policy_version=self.version, now=now)
        view = placed.case.view
        ref = item.comment.ref
        event = case_event(
            view,
            CaseEventKind.OPENED if placed.opened else CaseEventKind.UPDATED,
            placed.case.status,
            key="opened" if placed.opened else ref.key,
            reason=f"route {decision.route}",
            policy_version=self.version,
            at=_aware(item.occurred_at),
            comment=ref,
        )
        self._stage(event, now)
        if placed.opened and placed.new:
            self.counts.add(self.metrics.cases_opened, view.severity.value, decision.route)
            labels = [label.value for label in view.labels]
            opened = store.as_open_case(
                decision.route, labels, list(view.categories), view.severity.value, identity(item)
            )
            self.own.add(opened)
            self.opened.append(opened)
            await self._start_chain(view, decision, now)
        if placed.new:
            self._actions(item, view, decision, opener=placed.opened, now=now)

    async def _start_chain(self, view: CaseView, decision: RouteDecision, now: datetime) -> None:
        if not decision.receivers:
            return
        case_id = str(view.id)
        if decision.muted_by is not None:
            # A muted case is listed, not paged (critical is never muted); a silence's
            # cases page when it ends if nobody took them meanwhile.
            silence_id = silence_of(decision.muted_by)
            if silence_id is not None:
                ends_at = await silence_ends_at(self.conn, silence_id, now=now)
                self.writes.add_timer(
                    silenced_timer_row(
                        case_id, silence_id, chain=decision.chain, ends_at=ends_at, now=now
                    )
                )
            return
        waiting = waiting_paging_rows(
            case_id,
            chain=decision.chain,
            grouping=decision.grouping,
            severity=decision.severity,
            now=now,
        )
        if waiting is not None:
            for row in waiting:
                self.writes.add_timer(row)
            return
        # The first step is due now. The case is this batch's own, so nothing stored can
        # change its first round: it is written with the case, in the batch's statements.
        first = first_round(
            view,
            chain=decision.chain,
            grouping=decision.grouping,
            severity=decision.severity,
            paging=self.paging,
            now=now,
        )
        if first is not None:
            self._first_round(first, now)
            return
        # A round that needs the database reads the case, so the case is written first.
        await self.flush()
        self.out += await begin_paging(
            self.conn,
            case_id,
            chain=decision.chain,
            grouping=decision.grouping,
            severity=decision.severity,
            paging=self.paging,
            now=now,
        )

    def _first_round(self, first: FirstRound, now: datetime) -> None:
        """Stage the round as ``timers.begin_paging`` writes it: an emitted page's event
        only if its action is new, as ``store.record_action`` keeps it."""
        for row in first.timers:
            self.writes.add_timer(row)
        for planned in first.pages:
            action = planned.action
            self.writes.add_action(
                store.action_row(action, status=planned.status, now=now, note=planned.note)
            )
            if planned.status == store.EMITTED:
                self._stage(action, now, unless_known_action=action.action_id)
            if planned.held_timer is not None:
                self.writes.add_timer(planned.held_timer)
        if first.step is not None:
            self.writes.add_audit(first.step.audit)
            if first.step.escalated is not None:
                self._stage(first.step.escalated, now)

    def _receivers(
        self, item: ClassifiedComment, decision: RouteDecision, planned: PlannedAction
    ) -> list[Receiver]:
        if planned.kind is ActionType.QUEUE:
            return [] if decision.muted_by else list(decision.receivers)
        comment = item.comment
        found = platform_receiver(comment.ref, comment.source)
        return [found] if found is not None else []

    def _actions(
        self,
        item: ClassifiedComment,
        view: CaseView,
        decision: RouteDecision,
        *,
        opener: bool,
        now: datetime,
    ) -> None:
        ref = item.comment.ref
        case_id = str(view.id)
        for planned in decision.actions:
            if planned.kind is ActionType.REPLY and not opener:
                continue  # one reply per case, to the comment that opened it
            if planned.kind is ActionType.QUEUE and planned.sla is not None:
                due = now + planned.sla
                self.writes.change_case(case_id, answer_due_at=due)
                self.writes.add_earliest_timer(
                    answer_due_row(case_id, due_at=due, lang=item.classification.lang, now=now)
                )
            kind = action_kind(planned.kind)
            receivers = self._receivers(item, decision, planned)
            base = f"{view.id}:{planned.kind.value}"
            if kind is None:
                note = f"Vigie's actions contract has no {planned.kind.value!r} yet"
                self._skip(item, view, f"{base}:-:{ref.key}", planned, note, now)
                continue
            if not receivers:
                note = (
                    "nobody to tell; the case waits in the answer queue"
                    if planned.kind is ActionType.QUEUE
                    else f"Vigie cannot act on {ref.platform} comments"
                )
                self._skip(item, view, f"{base}:-:{ref.key}", planned, note, now)
                continue
            for receiver in receivers:
                action = on_comment(
                    view,
                    planned,
                    kind,
                    receiver,
                    comment=ref,
                    policy_version=self.version,
                    at=now,
                )
                if not supports(receiver.channel, kind, ref.platform):
                    note = f"{receiver.channel.value} cannot {kind.value} on {ref.platform}"
                    self._skip(item, view, action.action_id, planned, note, now)
                    continue
                waits = planned.approval is Approval.REQUIRES_APPROVAL
                status = store.PENDING if waits else store.EMITTED
                self.counts.add(self.metrics.actions, kind.value, status)
                self.writes.add_action(store.action_row(action, status=status, now=now))
                if status == store.EMITTED:
                    self._stage(action, now, unless_known_action=action.action_id)
                self._audit_action(item, view, action.action_id, planned, status, now)

    def _skip(
        self,
        item: ClassifiedComment,
        view: CaseView,
        action_id: str,
        planned: PlannedAction,
        note: str,
        now: datetime,
    ) -> None:
        self.counts.add(self.metrics.actions, planned.kind.value, store.SKIPPED)
        self.writes.add_action(
            store.skip_row(str(view.id), action_id, planned.kind.value, note=note, now=now)
        )
        self._audit_action(item, view, action_id, planned, store.SKIPPED, now, note)

    def _audit_action(
        self,
        item: ClassifiedComment,
        view: CaseView,
        action_id: str,
        planned: PlannedAction,
        status: str,
        now: datetime,
        note: str | None = None,
    ) -> None:
        self.writes.add_audit(
            store.audit_row(
                dedup_key=f"action-decided:{action_id}",
                at=now,
                action=f"action.{status}",
                subject_id=str(view.id),
                reason=note or f"route {view.route}: {planned} ({planned.approval.value})",
                policy_version=self.version,
                trace_id=item.trace_id,
                details={
                    "action_id": action_id,
                    "kind": planned.kind.value,
                    "resources": list(planned.resources),
                },
            )
        )

    def _caseless(self, item: ClassifiedComment, decision: RouteDecision, now: datetime) -> None:
        """A route without a case (praise, spam): its ``auto`` actions, keyed by comment."""
        comment = item.comment
        ref = comment.ref
        view = CaseView(
            id=derive_id("case", f"{decision.route}:{ref.key}"),
            route=decision.route,
            severity=decision.severity,
            labels=item.classification.labels,
            categories=item.classification.categories,
            opener=ref,
            comment_url=comment.url,
            opened_at=_aware(comment.received_at),
            trace_id=item.trace_id,
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
                        at=now,
                    )
                )
            status = store.EMITTED if done else store.SKIPPED
            self.counts.add(self.metrics.actions, planned.kind.value, status)
            self.writes.add_audit(
                store.audit_row(
                    dedup_key=f"action-decided:{view.id}:{planned}:{ref.key}",
                    at=now,
                    action=f"action.{status}",
                    subject_id=str(view.id),
                    reason=f"route {decision.route} (no case): {planned}"
                    + ("" if done else " cannot be carried out on this platform"),
                    policy_version=self.version,
                    trace_id=item.trace_id,
                    details={"comment": ref.key, "kind": planned.kind.value},
                )
            )
        for event in events:
            self._stage(event, now)
