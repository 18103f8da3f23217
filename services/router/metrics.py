"""Router metrics: cases by severity and route, the policy in force."""

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
        self.policy = Info(
            "vigie_router_policy", "The escalation policy in force.", registry=registry
        )
