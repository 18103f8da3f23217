"""From a classified comment to the routes that apply: pure, no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass

from services.router.policy.config import Policy, RouteConfig
from shared.events import ClassifiedComment, Receiver, Severity


@dataclass(frozen=True, slots=True)
class RouteDecision:
    route: str
    open_case: bool
    severity: Severity
    group_key: str
    receivers: tuple[Receiver, ...]


def facts(item: ClassifiedComment) -> dict[str, tuple[str, ...]]:
    c, k = item.comment, item.classification
    return {
        "label": tuple(label.value for label in k.labels),
        "category": k.categories,
        "severity": (k.severity.value,),
        "lang": (k.lang,),
        "platform": (c.platform,),
        "source": (c.source,),
        "kind": (c.kind.value,),
    }


def group_key(route: RouteConfig, item: ClassifiedComment) -> str:
    c, k = item.comment, item.classification
    values = {
        "platform": c.platform,
        "source": c.source,
        "author_id": c.author.id,
        "post_id": c.post_id,
        "thread_id": c.thread_id,
        "label": ",".join(sorted(label.value for label in k.labels)),
    }
    return "|".join([route.name, *(f"{f}={values[f]}" for f in route.group_by)])


def decide(policy: Policy, item: ClassifiedComment) -> list[RouteDecision]:
    """Every route that applies, in order: the first match, and more while ``continue``."""
    known = facts(item)
    decisions: list[RouteDecision] = []
    for route, matchers in policy.routes:
        if not all(m.matches(known) for m in matchers):
            continue
        decisions.append(
            RouteDecision(
                route=route.name,
                open_case=route.open_case,
                severity=route.severity or item.classification.severity,
                group_key=group_key(route, item),
                receivers=tuple(
                    Receiver(name=r.name, channel=r.channel, url=r.url)
                    for r in (policy.receivers[n] for n in route.notify)
                ),
            )
        )
        if not route.continue_:
            break
    return decisions
