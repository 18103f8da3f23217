"""What paging a case needs besides the database (the policy in force and the ack links),
and the chain timer row every paged case has."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.router.casework import chain_timer_id
from services.router.policy.chain_run import one_step_chain
from services.router.policy.config import Policy
from services.router.policy.schema import ChainConfig
from services.router.policy.tree import Route
from services.router.tokens import AckLinks

CHAIN, PAGE = "chain", "page"


@dataclass(frozen=True)
class Paging:
    """What a step needs besides the database: the policy in force and the ack links."""

    policy: Policy
    links: AckLinks
    routes: dict[str, Route] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "routes", {r.name: r for r in self.policy.routes})

    def chain_of(self, route_name: str, chain: str | None) -> ChainConfig | None:
        route = self.routes.get(route_name)
        if route is None:
            return None
        if chain is not None:
            return self.policy.chains.get(chain)
        return one_step_chain(route.receivers) if route.receivers else None


def chain_timer_row(
    case_id: str, *, chain: str | None, starts_at: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "id": chain_timer_id(case_id),
        "case_id": case_id,
        "kind": CHAIN,
        "chain": chain,
        "started_at": starts_at,
        "notified": 0,
        "reminded": 0,
        "due_at": starts_at,
        "updated_at": now,
    }
