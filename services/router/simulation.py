"""``vigie policy simulate``: stored classified comments replayed through two policies, and
what would have changed. Pure: the comments are passed in, in the order they arrived.

The replay is a model of the router, not the router: a case stays open for the whole
replay (nobody resolves it), so a group's later comments join it; inhibition sees the cases
the replay opened; silences and acknowledgements are not replayed. Counted per case: the
pages sent when it opens (to its first step's receivers, muted ones excepted); later
escalation steps depend on acknowledgements the replay cannot know.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from services.router.policy.config import Policy
from services.router.policy.decide import decide, facts, identity
from services.router.policy.inhibit import OpenCase
from shared.events import ClassifiedComment


@dataclass
class Tally:
    comments: int = 0
    cases: Counter[str] = field(default_factory=Counter)  # opened, by route
    pages: Counter[str] = field(default_factory=Counter)  # sent as cases open, by receiver
    muted: int = 0  # cases opened without a page (inhibition)
    routes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by comment


def simulate(
    policy: Policy,
    items: Iterable[ClassifiedComment],
    *,
    progress: Callable[[int], None] | None = None,
) -> Tally:
    tally = Tally()
    open_groups: set[str] = set()
    open_cases: list[OpenCase] = []
    for item in items:
        tally.comments += 1
        decisions = decide(policy, item, open_cases=open_cases)
        tally.routes[item.comment.ref.key] = tuple(d.route for d in decisions)
        for decision in decisions:
            if not decision.open_case or decision.group_key in open_groups:
                continue
            open_groups.add(decision.group_key)
            tally.cases[decision.route] += 1
            known = {**facts(item), "severity": (decision.severity.value,)}
            open_cases.append(OpenCase(decision.route, known, identity(item)))
            if decision.muted_by is not None:
                tally.muted += 1
                continue
            tally.pages.update(r.name for r in decision.receivers)
        if progress is not None:
            progress(1)
    return tally


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    current: int
    candidate: int

    @property
    def change(self) -> int:
        return self.candidate - self.current


@dataclass(frozen=True, slots=True)
class Comparison:
    comments: int
    cases: tuple[Row, ...]
    pages: tuple[Row, ...]
    muted: Row
    rerouted: int  # comments whose routes differ

    @property
    def changed(self) -> bool:
        return self.rerouted > 0 or any(r.change for r in (*self.cases, *self.pages, self.muted))


def _rows(current: Counter[str], candidate: Counter[str]) -> tuple[Row, ...]:
    names = sorted(set(current) | set(candidate))
    return tuple(Row(name, current[name], candidate[name]) for name in names)


def compare(current: Tally, candidate: Tally) -> Comparison:
    keys = set(current.routes) | set(candidate.routes)
    return Comparison(
        comments=max(current.comments, candidate.comments),
        cases=_rows(current.cases, candidate.cases),
        pages=_rows(current.pages, candidate.pages),
        muted=Row("muted", current.muted, candidate.muted),
        rerouted=sum(current.routes.get(k, ()) != candidate.routes.get(k, ()) for k in keys),
    )


def report(comparison: Comparison, *, current: str, candidate: str) -> list[str]:
    """The comparison as the lines ``vigie policy simulate`` prints."""
    width = max([len(r.name) for r in (*comparison.cases, *comparison.pages)] + [24])
    head = f"  {'':<{width}}  {'current':>9}  {'candidate':>9}  {'change':>7}"

    def table(title: str, rows: tuple[Row, ...]) -> list[str]:
        lines = [title, head]
        lines += [
            f"  {r.name:<{width}}  {r.current:>9}  {r.candidate:>9}  {r.change:>+7}" for r in rows
        ]
        return lines if rows else [title, "  (none)"]

    return [
        f"current:   {current}",
        f"candidate: {candidate}",
        f"{comparison.comments} classified comment(s) replayed",
        "",
        *table("cases opened, by route", comparison.cases),
        "",
        *table("pages sent as cases open, by receiver", comparison.pages),
        "",
        f"cases opened muted: {comparison.muted.current} -> {comparison.muted.candidate}",
        f"comments routed differently: {comparison.rerouted}",
    ]
