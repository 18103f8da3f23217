"""Router metrics: cases, escalation steps, people's actions, the outbox, the policy, and
how fast people answer (time to acknowledge, time to a human, deadlines missed).

A case's acknowledgement deadline is the moment its chain escalates: its first step's wait
after the chain started. A chain with nothing after its first step (one step, no repeat,
``then: stop``, as a route's plain ``notify`` is) never escalates and sets no deadline.
The open and overdue case gauges are counted from the database when scraped, so every
replica reports the same value (dashboards take the max).
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.router import store
from services.router.answer_due import ANSWER_DUE
from services.router.casework import FirstAck
from services.router.policy.schema import ChainConfig
from services.router.timers import CHAIN, Paging
from shared.events import CaseStatus, Severity
from shared.metrics import ScrapedRead, age_seconds
from shared.runtime import Clock
from shared.storage.tables import case_timers, cases

log = logging.getLogger(__name__)

# Minutes to hours: a crisis case is acknowledged in minutes, a forgotten one in hours.
HUMAN_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0)
TRANSITIONS = {
    "acknowledge": "acknowledged",
    "resolve": "resolved",
    "reopen": "reopened",
    "assign": "assigned",
}
OPEN_STATES = (CaseStatus.OPEN.value, CaseStatus.ACKNOWLEDGED.value)
ACKNOWLEDGE, ANSWER = "acknowledge", "answer"


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.cases_opened = Counter(
            "vigie_router_cases_opened_total",
            "Cases opened, by severity and route.",
            ["severity", "route"],
            registry=registry,
        )
        self.actions = Counter(
            "vigie_router_actions_total",
            "Actions decided on comments, by kind and status (emitted, pending, skipped).",
            ["kind", "status"],
            registry=registry,
        )
        self.transitions = Counter(
            "vigie_router_case_transitions_total",
            "Cases acknowledged, resolved, reopened, assigned, by how (api, link) and severity.",
            ["transition", "via", "severity"],
            registry=registry,
        )
        self.timers_fired = Counter(
            "vigie_router_timers_fired_total",
            "Escalation timers that fell due and were handled.",
            registry=registry,
        )
        self.console_logins = Counter(
            "vigie_router_console_logins_total",
            "Console login attempts, by outcome: success, failed (wrong name or password), "
            "throttled (too many failures for the name or the address), busy (too many "
            "password checks at once).",
            ["outcome"],
            registry=registry,
        )
        self.outbox_published = Counter(
            "vigie_router_outbox_published_total",
            "Events published from the outbox by the timer loop (not on the fast path).",
            registry=registry,
        )
        self.policy = Info(
            "vigie_router_policy", "The escalation policy in force.", registry=registry
        )
        self.time_to_acknowledge = Histogram(
            "vigie_router_time_to_acknowledge_seconds",
            "From a case's opening to its first acknowledgement by a person.",
            ["severity"],
            buckets=HUMAN_BUCKETS,
            registry=registry,
        )
        self.time_to_human = Histogram(
            "vigie_router_time_to_human_seconds",
            "From the platform time of a case's first comment to its first acknowledgement.",
            ["severity"],
            buckets=HUMAN_BUCKETS,
            registry=registry,
        )
        self.sla_breaches = Counter(
            "vigie_router_sla_breaches_total",
            "Deadlines missed: a case unacknowledged when its chain escalates (acknowledge), "
            "a queued question unanswered when its answer is due (answer).",
            ["severity", "kind"],
            registry=registry,
        )
        self.open_cases = Gauge(
            "vigie_router_open_cases",
            "Cases not resolved, by severity and state (open, acknowledged), from the database.",
            ["severity", "state"],
            registry=registry,
        )
        self.overdue_cases = Gauge(
            "vigie_router_overdue_cases",
            "Open cases past their acknowledgement deadline, from the database.",
            ["severity"],
            registry=registry,
        )

    def transitioned(
        self, transition: str, via: str, *, severity: str, first_ack: FirstAck | None = None
    ) -> None:
        """A person changed a case; its first acknowledgement also times the answer."""
        self.transitions.labels(TRANSITIONS.get(transition, transition), via, severity).inc()
        if first_ack is None:
            return
        at = first_ack.acknowledged_at
        self.time_to_acknowledge.labels(first_ack.severity).observe(
            age_seconds(first_ack.opened_at, at)
        )
        human = time_to_human(first_ack)
        if human is not None:
            self.time_to_human.labels(first_ack.severity).observe(human)


def time_to_human(ack: FirstAck) -> float | None:
    """Seconds from the first comment's platform time to the first acknowledgement; None
    when the comment is not stored (a router on a database of its own)."""
    if ack.comment_at is None:
        return None
    return age_seconds(ack.comment_at, ack.acknowledged_at)


# Acknowledgement deadlines -----------------------------------------------------------------


def ack_deadline(chain: ChainConfig | None, started_at: datetime) -> datetime | None:
    """When a case following ``chain`` from ``started_at`` escalates, if it ever does."""
    if chain is None:
        return None
    if len(chain.steps) == 1 and chain.repeat == 0 and chain.then == "stop":
        return None
    return started_at + chain.steps[0].wait


@dataclass(frozen=True, slots=True)
class ChainedCase:
    """An open, unacknowledged case whose chain runs."""

    severity: str
    route: str
    chain: str | None
    started_at: datetime


ChainOf = Callable[[str, str | None], ChainConfig | None]


def overdue_counts(cases_: Iterable[ChainedCase], chain_of: ChainOf, now: datetime) -> Tally[str]:
    """Open cases past their acknowledgement deadline at ``now``, by severity."""
    counts: Tally[str] = Tally()
    for case in cases_:
        deadline = ack_deadline(chain_of(case.route, case.chain), case.started_at)
        if deadline is not None and deadline <= now:
            counts[case.severity] += 1
    return counts


def ack_breached(
    chain: ChainConfig | None,
    *,
    started_at: datetime,
    notified: int,
    acknowledged: bool,
    resolved: bool,
    now: datetime,
) -> bool:
    """Whether a chain timer firing at ``now`` is the one that crosses the deadline.

    Before the deadline at most the first step went out (``notified`` <= 1, counted over
    the round since the chain last started); once the chain has escalated, later steps of
    the round are not new breaches.
    """
    if acknowledged or resolved or notified > 1:
        return False
    deadline = ack_deadline(chain, started_at)
    return deadline is not None and deadline <= now


async def sla_breach(
    conn: AsyncConnection, timer: Any, paging: Paging, now: datetime
) -> tuple[str, str] | None:
    """(severity, kind) of the deadline that ``timer``, falling due at ``now``, crosses.

    Read in the transaction that fires the timer, before it does: the timer is locked, so
    an acknowledgement cannot slip in between.
    """
    if timer.kind not in (CHAIN, ANSWER_DUE):
        return None
    case = await store.case_row(conn, timer.case_id)
    if case is None or case.status == CaseStatus.RESOLVED.value:
        return None
    if timer.kind == ANSWER_DUE:
        return (case.severity, ANSWER) if timer.due_at is not None else None
    breached = ack_breached(
        paging.chain_of(case.route, timer.chain),
        started_at=store.aware(timer.started_at),
        notified=timer.notified,
        acknowledged=case.acknowledged_at is not None,
        resolved=False,
        now=now,
    )
    return (case.severity, ACKNOWLEDGE) if breached else None


class CaseGauges(ScrapedRead):
    """Open and overdue cases, counted from the database when scraped, at most once every
    ``max_age_s``. A database that does not answer within ``timeout_s`` leaves the last
    values and a warning."""

    def __init__(
        self,
        metrics: RouterMetrics,
        engine: AsyncEngine,
        paging: Paging,
        *,
        clock: Clock,
        max_age_s: float = 5.0,
        timeout_s: float = 3.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            "case gauges", max_age_s=max_age_s, timeout_s=timeout_s, monotonic=monotonic
        )
        self._metrics = metrics
        self._engine = engine
        self._paging = paging
        self._clock = clock

    async def read(self) -> None:
        """Count now and set the gauges."""
        now = self._clock()
        async with self._engine.connect() as conn:
            by_state = (
                await conn.execute(
                    select(cases.c.severity, cases.c.status, func.count())
                    .where(cases.c.status.in_(OPEN_STATES))
                    .group_by(cases.c.severity, cases.c.status)
                )
            ).all()
            chained = (
                await conn.execute(
                    select(
                        cases.c.severity,
                        cases.c.route,
                        case_timers.c.chain,
                        case_timers.c.started_at,
                    )
                    .join(
                        case_timers,
                        and_(case_timers.c.case_id == cases.c.id, case_timers.c.kind == CHAIN),
                    )
                    .where(cases.c.status == CaseStatus.OPEN.value)
                )
            ).all()
        counted = {(row[0], row[1]): int(row[2]) for row in by_state}
        overdue = overdue_counts(
            (
                ChainedCase(r.severity, r.route, r.chain, store.aware(r.started_at))
                for r in chained
                if r.started_at is not None
            ),
            self._paging.chain_of,
            now,
        )
        severities = [s.value for s in Severity] + sorted(
            {sev for sev, _state in counted} - {s.value for s in Severity}
        )
        for severity in severities:
            for state in OPEN_STATES:
                self._metrics.open_cases.labels(severity, state).set(
                    counted.get((severity, state), 0)
                )
            self._metrics.overdue_cases.labels(severity).set(overdue.get(severity, 0))
