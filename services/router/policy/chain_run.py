"""Everything a case's chain owes at ``now``, in one go: the pages to send, the counters to
record, and when to look again.

``plan_escalation`` says what the *next* thing is; after a restart (or a long database
outage) several steps may be overdue at once. They are folded into one round of pages:
each receiver is paged once, under the latest overdue step that names it, rather than once
per missed step in a burst. Pure: the shell records the result in the transaction that
sends the pages.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.router.policy.escalation import ChainState, Step, plan_escalation
from services.router.policy.schema import ChainConfig, ChainStep

# A step's wait when a route pages with ``notify`` (a one-step chain that stops): unused,
# since nothing follows the only step, but a chain's waits are positive.
_ONE_STEP_WAIT = timedelta(minutes=1)
_MAX_PLANS = 10_000  # a chain's pages and reminders over any outage stay far below this


@dataclass(frozen=True, slots=True)
class Page:
    receiver: str
    step: Step  # NOTIFY or REMIND
    number: int  # the chain step (over all rounds) or the reminder, from 1


@dataclass(frozen=True, slots=True)
class ChainRun:
    pages: tuple[Page, ...]
    notified: int  # steps paged so far, folded ones included
    reminded: int
    next_due: datetime | None  # None: nothing more will be due
    resolve: bool = False  # the chain ran out and says ``then: resolve``
    folded: tuple[int, ...] = ()  # overdue steps whose pages went out under a later step


def one_step_chain(receivers: tuple[str, ...]) -> ChainConfig:
    """The chain of a route that says ``notify: [...]``: page them once, then stop."""
    return ChainConfig(name="notify", steps=(ChainStep(notify=receivers, wait=_ONE_STEP_WAIT),))


def _fold(
    plans: list[tuple[Step, tuple[str, ...], int]],
) -> tuple[tuple[Page, ...], tuple[int, ...]]:
    latest: dict[tuple[Step, str], int] = {}
    for step, receivers, number in plans:
        for receiver in receivers:
            latest[(step, receiver)] = number
    pages = tuple(Page(receiver, step, number) for (step, receiver), number in latest.items())
    used = {(p.step, p.number) for p in pages}
    folded = tuple(n for step, _r, n in plans if step is Step.NOTIFY and (step, n) not in used)
    return pages, folded


def run_chain(chain: ChainConfig, state: ChainState, *, now: datetime) -> ChainRun:
    """What is due at ``now``: every overdue step folded into one round of pages."""
    plans: list[tuple[Step, tuple[str, ...], int]] = []
    current = state
    for _ in range(_MAX_PLANS):
        plan = plan_escalation(chain, current, now=now)
        if plan.step is Step.NOTIFY:
            plans.append((Step.NOTIFY, plan.receivers, plan.number))
            current = replace(current, notified=plan.number)
        elif plan.step is Step.REMIND:
            plans.append((Step.REMIND, plan.receivers, plan.number))
            current = replace(current, reminded=plan.number)
        else:
            break
    else:  # pragma: no cover - bounded by the chain's schema (at most 21 rounds)
        raise RuntimeError(f"chain {chain.name!r} did not settle")
    pages, folded = _fold(plans)
    return ChainRun(
        pages=pages,
        notified=current.notified,
        reminded=current.reminded,
        next_due=plan.at if plan.step is Step.WAIT else None,
        resolve=plan.step is Step.RESOLVE,
        folded=folded,
    )
