"""Escalation chains, planned: page a tier, wait, page the next, run the steps again up to
``repeat`` times, then stop (or resolve). An acknowledgement stops the chain; a case that
stays acknowledged but unresolved past the chain's SLA brings reminders.

Pure: ``plan_escalation`` says what is due for a case at ``now`` from what has been done so
far. The shell does it, records it, and asks again at the time the plan names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.router.policy.schema import ChainConfig


class Step(StrEnum):
    NOTIFY = "notify"  # page ``receivers`` (step ``number`` of the chain, from 1)
    REMIND = "remind"  # acknowledged, unresolved past the SLA: remind ``receivers``
    WAIT = "wait"  # nothing due before ``at``
    RESOLVE = "resolve"  # the chain ran out and says ``then: resolve``
    DONE = "done"  # nothing more will ever be due


@dataclass(frozen=True, slots=True)
class ChainState:
    started_at: datetime  # when the case opened (the first step is due then)
    notified: int = 0  # steps already paged, over all rounds
    acknowledged_at: datetime | None = None
    reminded: int = 0
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class ChainPlan:
    step: Step
    receivers: tuple[str, ...] = ()
    at: datetime | None = None  # WAIT: when to ask again; otherwise when it fell due
    number: int = 0  # NOTIFY: the step's position over all rounds (1, 2, ...); REMIND: nth


def schedule(chain: ChainConfig, started_at: datetime) -> list[tuple[datetime, int]]:
    """(when, step index) of every page of the chain, over all its rounds."""
    out, at = [], started_at
    for _round in range(chain.repeat + 1):
        for index, step in enumerate(chain.steps):
            out.append((at, index))
            at += step.wait
    return out


def ends_at(chain: ChainConfig, started_at: datetime) -> datetime:
    """When the last step's wait is over."""
    cycle = sum((step.wait for step in chain.steps), timedelta(0))
    return started_at + cycle * (chain.repeat + 1)


def _reminders(chain: ChainConfig, state: ChainState, now: datetime) -> ChainPlan:
    assert state.acknowledged_at is not None
    if chain.sla is None:
        return ChainPlan(Step.DONE)
    due = state.acknowledged_at + chain.sla
    if state.reminded > 0:
        if chain.remind_every is None:
            return ChainPlan(Step.DONE)
        due += chain.remind_every * state.reminded
    if now < due:
        return ChainPlan(Step.WAIT, at=due)
    receivers = chain.remind or chain.steps[0].notify
    return ChainPlan(Step.REMIND, receivers, at=due, number=state.reminded + 1)


def plan_escalation(chain: ChainConfig, state: ChainState, *, now: datetime) -> ChainPlan:
    if state.resolved:
        return ChainPlan(Step.DONE)
    if state.acknowledged_at is not None:
        return _reminders(chain, state, now)
    pages = schedule(chain, state.started_at)
    if state.notified < len(pages):
        due, index = pages[state.notified]
        if now < due:
            return ChainPlan(Step.WAIT, at=due)
        return ChainPlan(Step.NOTIFY, chain.steps[index].notify, at=due, number=state.notified + 1)
    end = ends_at(chain, state.started_at)
    if chain.then == "stop":
        return ChainPlan(Step.DONE)
    if now < end:
        return ChainPlan(Step.WAIT, at=end)
    return ChainPlan(Step.RESOLVE, at=end)
