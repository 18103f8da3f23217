"""Router metrics: cases, escalation steps, people's actions, the outbox, the policy."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Info


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
            "Cases acknowledged, resolved, reopened, assigned, by how (api, link).",
            ["transition", "via"],
            registry=registry,
        )
        self.timers_fired = Counter(
            "vigie_router_timers_fired_total",
            "Escalation timers that fell due and were handled.",
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
