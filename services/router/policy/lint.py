"""``vigie policy lint``: every error of a policy file, and what is worth a look although
valid: routes no comment can reach, names defined but never used, resource entries not
verified for too long. Pure apart from reading the files; today's date is passed in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from services.router.policy.config import Finding, Policy, PolicyError, line_of, parse_policy
from services.router.policy.matchers import Matcher, Op
from services.router.policy.tree import Loc, Route
from shared.events import Label, Severity

_VALUES = {"label": {v.value for v in Label}, "severity": {v.value for v in Severity}}


def never_matches(matcher: Matcher) -> str | None:
    """Why ``matcher`` can match no comment at all, if it cannot."""
    known = _VALUES.get(matcher.field)
    if known is not None and matcher.op is Op.EQ and matcher.value not in known:
        return f"{matcher} can never match: {matcher.field} is one of {', '.join(sorted(known))}"
    if matcher.field.startswith("score."):
        threshold = float(matcher.value)
        impossible = (
            (matcher.op is Op.GE and threshold > 1)
            or (matcher.op is Op.GT and threshold >= 1)
            or (matcher.op is Op.LE and threshold < 0)
            or (matcher.op is Op.LT and threshold <= 0)
        )
        if impossible:
            return f"{matcher} can never match: scores are between 0 and 1"
    return None


def _shadowed(earlier: Route, later: Route) -> bool:
    """Whatever reaches ``later`` is taken by ``earlier`` first, which does not continue."""
    if earlier.continue_ or earlier.active_during or earlier.inactive_during:
        return False
    return {str(m) for m in earlier.matchers} <= {str(m) for m in later.matchers}


def unreachable(route: Route) -> Iterator[tuple[Loc, str]]:
    for i, matcher in enumerate(route.matchers):
        why = never_matches(matcher)
        if why:
            yield (*route.loc, "matchers", i), f"route {route.name!r} is unreachable: {why}"
    for j, later in enumerate(route.routes):
        for earlier in route.routes[:j]:
            if _shadowed(earlier, later):
                message = (
                    f"route {later.name!r} is unreachable: route {earlier.name!r} before it "
                    "takes every comment it would match (add continue: true to that route, "
                    "or move this one up)"
                )
                yield (*later.loc, "name"), message
                break
        yield from unreachable(later)


def unused(policy: Policy) -> Iterator[tuple[Loc, str]]:
    routes = policy.root.walk()
    paged = {r for route in routes for r in route.receivers}
    paged |= {r for chain in policy.chains.values() for s in chain.steps for r in s.notify}
    paged |= {r for chain in policy.chains.values() for r in chain.remind}
    chains = {route.chain for route in routes}
    templates = {a.template for route in routes for a in route.actions}
    windows = {w.name for route in routes for w in (*route.active_during, *route.inactive_during)}
    windows |= {w for r in policy.receivers.values() for w in r.quiet_hours}
    sections = (
        ("receivers", [r.name for r in policy.config.receivers], paged, "receiver"),
        ("chains", [c.name for c in policy.config.chains], chains, "chain"),
        ("templates", [t.name for t in policy.config.templates], templates, "template"),
        ("time_windows", [w.name for w in policy.config.time_windows], windows, "time window"),
    )
    for section, names, used, what in sections:
        for i, name in enumerate(names):
            if name not in used:
                yield (section, i, "name"), f"{what} {name!r} is never used"


def risky_chains(policy: Policy) -> Iterator[tuple[Loc, str]]:
    for route in policy.routes:
        chain = policy.chains.get(route.chain or "")
        if chain is not None and chain.then == "resolve" and route.severity is Severity.CRITICAL:
            message = (
                f"route {route.name!r} is critical but its chain {chain.name!r} resolves the "
                "case when nobody answers"
            )
            yield (*route.loc, "name"), message


def lint_policy(text: str, *, origin: str, base_dir: Path, today: date) -> list[Finding]:
    try:
        policy = parse_policy(text, origin=origin, base_dir=base_dir)
    except PolicyError as exc:
        return list(exc.findings)
    found = [
        Finding(origin, loc, line_of(text, loc), message, "warning")
        for check in (unreachable(policy.root), unused(policy), risky_chains(policy))
        for loc, message in check
    ]
    if policy.directory is not None and policy.config.resources is not None:
        found += stale_resources(policy, base_dir=base_dir, today=today)
    return found


def stale_resources(policy: Policy, *, base_dir: Path, today: date) -> list[Finding]:
    assert policy.directory is not None and policy.config.resources is not None
    path = base_dir / policy.config.resources.file
    text = path.read_text(encoding="utf-8")
    max_age = policy.config.resources.max_age
    found = []
    for i, entry in policy.directory.stale(today=today, max_age=max_age):
        loc = ("resources", i, "verified_on")
        message = (
            f"{entry.id}: verified on {entry.verified_on}, {(today - entry.verified_on).days} "
            f"days ago (more than {max_age.days}): check it against {entry.source}"
        )
        found.append(Finding(str(path), loc, line_of(text, loc), message, "warning"))
    for i, entry in enumerate(policy.directory.resources):
        if entry.verified_on > today:
            loc = ("resources", i, "verified_on")
            message = f"{entry.id}: verified_on {entry.verified_on} is in the future"
            found.append(Finding(str(path), loc, line_of(text, loc), message, "warning"))
    return found


def lint_file(path: Path, *, today: date) -> list[Finding]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [Finding(str(path), (), None, f"cannot read the policy: {exc.strerror}")]
    return lint_policy(text, origin=str(path), base_dir=path.parent, today=today)
