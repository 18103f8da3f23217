"""What one round of a chain writes, decided without the database: the pages (sent, or held
by quiet hours in a timer of their own) and the step's audit entry and escalation event.

The timer loop applies a round statement by statement in the transaction that claimed the
chain timer (``timers``); a case the router opens and pages at once has nothing stored yet
to read, so its first round goes into the batch's writes with the case (``first_round``),
one multi-row statement per table instead of the dozen a claimed timer takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.router import store
from services.router.actions import CaseView, case_event, page
from services.router.digests import digest_timer_row
from services.router.paging import PAGE, Paging, chain_timer_row
from services.router.policy.chain_run import ChainRun, run_chain
from services.router.policy.config import Policy
from services.router.policy.decide import fallback_of, receiver_of
from services.router.policy.escalation import ChainState, Step
from services.router.policy.quiet import deferred_page
from services.router.policy.schema import ChainConfig
from services.router.policy.tree import Grouping
from shared.events import Action, CaseEvent, CaseEventKind, CaseStatus, Severity


@dataclass(frozen=True, slots=True)
class PlannedPage:
    """A page of the round: emitted now, or held (its action kept, its timer due when the
    receiver's quiet hours end)."""

    action: Action
    status: str  # store.EMITTED or store.HELD
    note: str | None
    held_timer: dict[str, Any] | None
    summary: dict[str, Any]  # what the step's audit entry says of it


@dataclass(frozen=True, slots=True)
class StepRecord:
    audit: dict[str, Any]
    escalated: CaseEvent | None  # when the round reached step 2 or later


@dataclass(frozen=True, slots=True)
class FirstRound:
    """The rows a case paged as it opens starts with, besides the case itself."""

    timers: list[dict[str, Any]]
    pages: list[PlannedPage]
    step: StepRecord | None


def plan_pages(
    view: CaseView, run: ChainRun, *, paging: Paging, now: datetime
) -> list[PlannedPage]:
    policy = paging.policy
    planned: list[PlannedPage] = []
    for due in run.pages:
        config = policy.receivers.get(due.receiver)
        if config is None:  # checked at load; only a policy change can get here
            continue
        action = page(
            view,
            receiver_of(config),
            step=due.step,
            number=due.number,
            policy_version=policy.version,
            at=now,
            ack_url=paging.links.url(view.id, config.name, now=now),
            fallback=fallback_of(config, policy.receivers),
        )
        held = deferred_page(config, policy.windows, severity=view.severity, at=now)
        summary = {
            "receiver": config.name,
            "step": due.step.value,
            "number": due.number,
            "held_until": held.until.isoformat() if held and held.until else None,
        }
        if held is None:
            planned.append(PlannedPage(action, store.EMITTED, None, None, summary))
            continue
        note = "held by quiet hours " + (
            f"until {held.until.isoformat()}" if held.until else "that never end"
        )
        timer = {
            "id": f"page:{action.action_id}",
            "case_id": str(view.id),
            "kind": PAGE,
            "notified": 0,
            "reminded": 0,
            "page": {"step": due.step.value, "action": action.model_dump(mode="json")},
            "due_at": held.until,
            "updated_at": now,
        }
        planned.append(PlannedPage(action, store.HELD, note, timer, summary))
    return planned


def step_record(
    view: CaseView,
    chain: ChainConfig,
    run: ChainRun,
    pages: list[PlannedPage],
    *,
    policy: Policy,
    now: datetime,
) -> StepRecord:
    """The audit entry of a round that paged or folded steps, and its escalation event."""
    summaries = [p.summary for p in pages]
    steps = sorted({s["number"] for s in summaries if s["step"] == Step.NOTIFY.value})
    reminders = sorted({s["number"] for s in summaries if s["step"] == Step.REMIND.value})
    what = "; ".join(
        part
        for part in (
            f"step(s) {steps}" if steps else "",
            f"reminder(s) {reminders}" if reminders else "",
            f"overdue step(s) {list(run.folded)} folded into later ones" if run.folded else "",
        )
        if part
    )
    audit = store.audit_row(
        dedup_key=f"chain-step:{view.id}{view.generation}:{run.notified}:{run.reminded}",
        at=now,
        action="case.reminded" if reminders and not steps else "case.escalated",
        subject_id=str(view.id),
        reason=f"chain {chain.name}: {what}",
        policy_version=policy.version,
        trace_id=view.trace_id,
        details={"chain": chain.name, "pages": summaries, "folded": list(run.folded)},
    )
    if not steps or max(steps) < 2:
        return StepRecord(audit, None)
    event = case_event(
        view,
        CaseEventKind.ESCALATED,
        CaseStatus.OPEN,
        key=f"escalated{view.generation}:{max(steps)}",
        reason=f"chain {chain.name}: step {max(steps)}",
        policy_version=policy.version,
        at=now,
    )
    return StepRecord(audit, event)


def first_round(
    view: CaseView,
    *,
    chain: str | None,
    grouping: Grouping | None,
    severity: Severity,
    paging: Paging,
    now: datetime,
) -> FirstRound | None:
    """What ``timers.begin_paging`` writes for a case opened now, without ``group_wait``,
    and stored by nobody yet: its chain timer as the first round leaves it, its digest timer
    and the round's pages. None when the round needs the database (a chain the policy no
    longer has, or one that runs out and resolves the case at once)."""
    config = paging.chain_of(view.route, chain)
    if config is None:
        return None
    state = ChainState(started_at=now, notified=0, acknowledged_at=None, reminded=0)
    run = run_chain(config, state, now=now)
    if run.resolve:
        return None
    timer = chain_timer_row(str(view.id), chain=chain, starts_at=now, now=now)
    timer |= {"notified": run.notified, "reminded": run.reminded, "due_at": run.next_due}
    timers = [timer]
    if grouping is not None:
        timers.append(
            digest_timer_row(
                str(view.id), first_page_at=now, grouping=grouping, severity=severity, now=now
            )
        )
    pages = plan_pages(view, run, paging=paging, now=now)
    step = (
        step_record(view, config, run, pages, policy=paging.policy, now=now)
        if run.pages or run.folded
        else None
    )
    return FirstRound(timers, pages, step)
