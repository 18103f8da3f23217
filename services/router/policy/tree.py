"""The compiled route tree: options inherited by copy-then-override, matchers compiled once,
and the depth-first search that finds the routes a comment takes.

As in Alertmanager, a route that matches hands the comment to its children; the first child
that matches takes it (and the next ones too while a matching child says ``continue``); when
no child matches, the route itself does. The root (the policy's ``defaults``) matches every
comment but is never a decision of its own: a comment no route matches yields nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from services.router.policy.matchers import Facts, Matcher, parse_matcher
from services.router.policy.schema import (
    ActionConfig,
    ActionType,
    Approval,
    ChainConfig,
    PolicyConfig,
    RouteConfig,
    RouteOptions,
)
from services.router.policy.timewindows import TimeWindow, in_any
from shared.events import Severity

_T = TypeVar("_T")
Loc = tuple[int | str, ...]
Problem = tuple[Loc, str]

ROOT = "(defaults)"
DEFAULT_GROUP_BY = ("platform", "author_id")
DEFAULT_GROUP_WAIT = timedelta(0)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_DIGEST_AFTER = 5


@dataclass(frozen=True, slots=True)
class Grouping:
    """How comments of one route become one case, and how often its receivers hear of it."""

    by: tuple[str, ...]
    wait: timedelta
    interval: timedelta
    digest_after: int


@dataclass(frozen=True, slots=True)
class RouteAction:
    kind: ActionType
    approval: Approval
    template: str | None = None
    sla: timedelta | None = None

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.template}" if self.template else self.kind.value


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    loc: Loc
    matchers: tuple[Matcher, ...]
    active_during: tuple[TimeWindow, ...]
    inactive_during: tuple[TimeWindow, ...]
    continue_: bool
    severity: Severity | None
    open_case: bool
    receivers: tuple[str, ...]
    chain: str | None
    grouping: Grouping
    actions: tuple[RouteAction, ...]
    country: str | None
    routes: tuple[Route, ...]

    def matches(self, facts: Facts, at: datetime) -> bool:
        if self.active_during and not in_any(self.active_during, at):
            return False
        if in_any(self.inactive_during, at):
            return False
        return all(m.matches(facts) for m in self.matchers)

    def walk(self) -> list[Route]:
        """This route and all below it, depth first, in file order."""
        return [self, *(r for child in self.routes for r in child.walk())]


def match(route: Route, facts: Facts, at: datetime) -> list[Route]:
    """The routes below ``route`` (or ``route`` itself) that take the comment."""
    if not route.matches(facts, at):
        return []
    found: list[Route] = []
    for child in route.routes:
        taken = match(child, facts, at)
        found.extend(taken)
        if taken and not child.continue_:
            break
    return found or [route]


def routes_for(root: Route, facts: Facts, at: datetime) -> list[Route]:
    return [r for r in match(root, facts, at) if r is not root]


@dataclass(frozen=True, slots=True)
class _Effective:
    """Options after inheritance, before they are frozen into a Route."""

    severity: Severity | None
    open_case: bool
    notify: tuple[str, ...]
    chain: str | None
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    digest_after: int
    actions: tuple[ActionConfig, ...]
    country: str | None

    def override(self, options: RouteOptions) -> _Effective:
        """Copy, then override with what ``options`` sets; notify and chain replace each
        other (a route that pages differently from its parent says how)."""
        paging_set = options.notify is not None or options.chain is not None
        return _Effective(
            severity=options.severity if options.severity is not None else self.severity,
            open_case=options.open_case if options.open_case is not None else self.open_case,
            notify=(options.notify or ()) if paging_set else self.notify,
            chain=options.chain if paging_set else self.chain,
            group_by=_pick(options.group_by, self.group_by),
            group_wait=_pick(options.group_wait, self.group_wait),
            group_interval=_pick(options.group_interval, self.group_interval),
            digest_after=_pick(options.digest_after, self.digest_after),
            actions=_pick(options.actions, self.actions),
            country=_pick(options.country, self.country),
        )


def _pick(value: _T | None, inherited: _T) -> _T:
    return inherited if value is None else value


_START = _Effective(
    severity=None,
    open_case=True,
    notify=(),
    chain=None,
    group_by=DEFAULT_GROUP_BY,
    group_wait=DEFAULT_GROUP_WAIT,
    group_interval=DEFAULT_GROUP_INTERVAL,
    digest_after=DEFAULT_DIGEST_AFTER,
    actions=(),
    country=None,
)


class _Compiler:
    def __init__(self, config: PolicyConfig) -> None:
        self.config = config
        self.windows = {w.name: w for w in config.time_windows}
        self.chains: Mapping[str, ChainConfig] = {c.name: c for c in config.chains}
        self.problems: list[Problem] = []

    def root(self) -> Route:
        options = _START.override(self.config.defaults)
        self._check_options(options, self.config.defaults, ("defaults",))
        children = tuple(
            self.route(child, options, ("routes", i)) for i, child in enumerate(self.config.routes)
        )
        return self._freeze(ROOT, ("defaults",), (), (), (), False, options, children)

    def route(self, config: RouteConfig, parent: _Effective, loc: Loc) -> Route:
        options = parent.override(config)
        self._check_options(options, config, loc)
        children = tuple(
            self.route(child, options, (*loc, "routes", i)) for i, child in enumerate(config.routes)
        )
        return self._freeze(
            config.name,
            loc,
            tuple(parse_matcher(m) for m in config.matchers),
            self._windows(config.active_during, (*loc, "active_during")),
            self._windows(config.inactive_during, (*loc, "inactive_during")),
            config.continue_,
            options,
            children,
        )

    def _windows(self, names: tuple[str, ...], loc: Loc) -> tuple[TimeWindow, ...]:
        for i, name in enumerate(names):
            if name not in self.windows:
                self.problems.append(((*loc, i), f"unknown time window {name!r}"))
        return tuple(self.windows[n] for n in names if n in self.windows)

    def _check_options(self, options: _Effective, own: RouteOptions, loc: Loc) -> None:
        """Problems of the effective options, reported where the route sets them."""
        if own.chain is not None and own.chain not in self.chains:
            self.problems.append(((*loc, "chain"), f"unknown chain {own.chain!r}"))
        paged = options.notify or (options.chain and options.chain in self.chains)
        if paged and not options.open_case:
            where = "notify" if own.notify else "chain" if own.chain else "open_case"
            message = "notify needs open_case: true (receivers are paged about a case)"
            self.problems.append(((*loc, where), message))
        waiting = [a for a in options.actions if self._approval(a) is Approval.REQUIRES_APPROVAL]
        if waiting and not options.open_case:
            where = "actions" if own.actions is not None else "open_case"
            message = "an action that requires approval waits in a case: open_case: true"
            self.problems.append(((*loc, where), message))

    def _approval(self, action: ActionConfig) -> Approval:
        return action.approval or self.config.approval.get(action.kind, Approval.AUTO)

    def _freeze(
        self,
        name: str,
        loc: Loc,
        matchers: tuple[Matcher, ...],
        active: tuple[TimeWindow, ...],
        inactive: tuple[TimeWindow, ...],
        continue_: bool,
        options: _Effective,
        children: tuple[Route, ...],
    ) -> Route:
        chain = self.chains.get(options.chain) if options.chain else None
        return Route(
            name=name,
            loc=loc,
            matchers=matchers,
            active_during=active,
            inactive_during=inactive,
            continue_=continue_,
            severity=options.severity,
            open_case=options.open_case,
            receivers=chain.steps[0].notify if chain else options.notify,
            chain=options.chain,
            grouping=Grouping(
                by=options.group_by,
                wait=options.group_wait,
                interval=options.group_interval,
                digest_after=options.digest_after,
            ),
            actions=tuple(
                RouteAction(a.kind, self._approval(a), a.template, a.sla) for a in options.actions
            ),
            country=options.country,
            routes=children,
        )


def compile_tree(config: PolicyConfig) -> tuple[Route, list[Problem]]:
    """The frozen tree, and the problems only inheritance reveals."""
    compiler = _Compiler(config)
    root = compiler.root()
    return root, compiler.problems
