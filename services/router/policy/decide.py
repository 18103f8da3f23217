"""From a classified comment to the routes that apply: pure, no I/O, no clock.

A decision says which case the comment goes to, who is paged (and whether inhibition, a
silence or quiet hours hold that back), and which actions the route asks for, each marked
``auto`` or ``requires_approval``. The shell acts on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from services.router.policy.config import Policy
from services.router.policy.inhibit import OpenCase, inhibiting
from services.router.policy.matchers import Facts
from services.router.policy.quiet import DeferredPage, deferred_page
from services.router.policy.replies import render
from services.router.policy.schema import ActionType, Approval, ReceiverConfig
from services.router.policy.silences import Silence, silencing
from services.router.policy.tree import Grouping, Route, routes_for
from shared.events import ClassifiedComment, Receiver, Severity


def receiver_of(config: ReceiverConfig) -> Receiver:
    """The wire form of a policy receiver: where to send, never how to authenticate."""
    return Receiver(name=config.name, channel=config.channel, url=config.url, target=config.target)


def fallback_of(config: ReceiverConfig, receivers: Mapping[str, ReceiverConfig]) -> Receiver | None:
    """The receiver that gets what ``config`` could not be given, if the policy names one."""
    found = receivers.get(config.fallback) if config.fallback else None
    return receiver_of(found) if found is not None else None


@dataclass(frozen=True, slots=True)
class PlannedAction:
    kind: ActionType
    approval: Approval
    template: str | None = None
    sla: timedelta | None = None
    text: str | None = None  # a reply's text, rendered from its template
    lang: str | None = None
    resources: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.template}" if self.template else self.kind.value


@dataclass(frozen=True, slots=True)
class RouteDecision:
    route: str
    open_case: bool
    severity: Severity
    group_key: str
    receivers: tuple[Receiver, ...]
    chain: str | None = None
    grouping: Grouping | None = None
    actions: tuple[PlannedAction, ...] = ()
    muted_by: str | None = None  # "inhibit_rule:<name>" or "silence:<id>"
    deferred: tuple[DeferredPage, ...] = ()

    @property
    def pages_now(self) -> tuple[Receiver, ...]:
        """The receivers to page at once: none when muted, not those in quiet hours."""
        if self.muted_by is not None:
            return ()
        waiting = {d.receiver for d in self.deferred}
        return tuple(r for r in self.receivers if r.name not in waiting)


def facts(item: ClassifiedComment) -> dict[str, tuple[str, ...]]:
    c, k = item.comment, item.classification
    known = {
        "label": tuple(label.value for label in k.labels),
        "category": k.categories,
        "severity": (k.severity.value,),
        "lang": (k.lang,),
        "platform": (c.platform,),
        "source": (c.source,),
        "kind": (c.kind.value,),
    }
    known.update({f"score.{label.value}": (repr(k.scores[label]),) for label in k.scores})
    return known


def identity(item: ClassifiedComment) -> dict[str, str]:
    """The fields cases are grouped and inhibited by (never logged: author ids are personal)."""
    c, k = item.comment, item.classification
    return {
        "platform": c.platform,
        "source": c.source,
        "author_id": c.author.id,
        "post_id": c.post_id,
        "thread_id": c.thread_id,
        "label": ",".join(sorted(label.value for label in k.labels)),
    }


def group_key(route: str, group_by: tuple[str, ...], item: ClassifiedComment) -> str:
    values = identity(item)
    return "|".join([route, *(f"{f}={values[f]}" for f in group_by)])


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _actions(policy: Policy, route: Route, item: ClassifiedComment) -> tuple[PlannedAction, ...]:
    planned = []
    for action in route.actions:
        reply = None
        if action.kind is ActionType.REPLY and action.template is not None:
            reply = render(
                policy.templates[action.template],
                lang=item.classification.lang,
                country=route.country,
                directory=policy.directory,
            )
        planned.append(
            PlannedAction(
                kind=action.kind,
                approval=action.approval,
                template=action.template,
                sla=action.sla,
                text=reply.text if reply else None,
                lang=reply.lang if reply else None,
                resources=reply.resources if reply else (),
            )
        )
    return tuple(planned)


def _decision(policy: Policy, route: Route, item: ClassifiedComment, at: datetime) -> RouteDecision:
    severity = route.severity or item.classification.severity
    receivers = tuple(policy.receivers[name] for name in route.receivers)
    deferred = (deferred_page(r, policy.windows, severity=severity, at=at) for r in receivers)
    return RouteDecision(
        route=route.name,
        open_case=route.open_case,
        severity=severity,
        group_key=group_key(route.name, route.grouping.by, item),
        receivers=tuple(receiver_of(r) for r in receivers),
        chain=route.chain,
        grouping=route.grouping,
        actions=_actions(policy, route, item),
        deferred=tuple(d for d in deferred if d is not None),
    )


def _with_severity(known: Facts, severity: Severity) -> dict[str, tuple[str, ...]]:
    return {**known, "severity": (severity.value,)}


def _muted_by(
    policy: Policy,
    decision: RouteDecision,
    item: ClassifiedComment,
    *,
    known: Facts,
    at: datetime,
    open_cases: tuple[OpenCase, ...],
    silences: tuple[Silence, ...],
    siblings: list[RouteDecision],
) -> str | None:
    if decision.severity is Severity.CRITICAL or not decision.receivers:
        return None  # critical is never muted
    target = _with_severity(known, decision.severity)
    silence = silencing(silences, target, at)
    if silence is not None:
        return f"silence:{silence.id}"
    who = identity(item)
    own = tuple(
        OpenCase(d.route, _with_severity(known, d.severity), who)
        for d in siblings
        if d.route != decision.route and d.open_case
    )
    found = inhibiting(
        policy.inhibit_rules, target=target, identity=who, sources=(*open_cases, *own)
    )
    return f"inhibit_rule:{found[0].name}" if found else None


def decide(
    policy: Policy,
    item: ClassifiedComment,
    *,
    at: datetime | None = None,
    open_cases: Iterable[OpenCase] = (),
    silences: Iterable[Silence] = (),
    routes: Iterable[Route] | None = None,
) -> list[RouteDecision]:
    """Every route that applies, in tree order: the deepest match, and more while
    ``continue``. ``at`` (for time windows and quiet hours) defaults to when the comment was
    received, so that a redelivery decides the same. ``routes``, when given, are those
    ``matching_routes`` found for the same comment and time."""
    when = _aware(at or item.comment.received_at)
    known = facts(item)
    matched = routes_for(policy.root, known, when) if routes is None else routes
    decisions = [_decision(policy, route, item, when) for route in matched]
    cases, active = tuple(open_cases), tuple(silences)
    return [
        replace(
            d,
            muted_by=_muted_by(
                policy,
                d,
                item,
                known=known,
                at=when,
                open_cases=cases,
                silences=active,
                siblings=decisions,
            ),
        )
        for d in decisions
    ]


def matching_routes(
    policy: Policy, item: ClassifiedComment, *, at: datetime | None = None
) -> tuple[Route, ...]:
    """The routes that apply to ``item``, in tree order (what ``decide`` decides on)."""
    when = _aware(at or item.comment.received_at)
    return tuple(routes_for(policy.root, facts(item), when))


def case_groups(routes: Iterable[Route], item: ClassifiedComment) -> list[str]:
    """The group keys of the routes that put ``item`` in a case: what ``decide`` gives as
    ``group_key`` for them (the shell reads those groups' open cases before deciding)."""
    return [group_key(r.name, r.grouping.by, item) for r in routes if r.open_case]
