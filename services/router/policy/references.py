"""Cross-references in a policy: every name a route, receiver, chain or template uses must
exist, and every name must be defined once. Each problem carries its YAML path."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from services.router.policy.resources import ResourceDirectory
from services.router.policy.schema import PolicyConfig, RouteConfig
from services.router.policy.tree import Loc, Problem, Route


def _duplicates(section: str, names: Iterable[str], what: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield (section, i, "name"), f"{what} defined twice: {name!r}"
        seen.add(name)


def _routes(routes: tuple[RouteConfig, ...], loc: Loc) -> Iterator[tuple[Loc, RouteConfig]]:
    for i, route in enumerate(routes):
        yield (*loc, i), route
        yield from _routes(route.routes, (*loc, i, "routes"))


def _unknown(names: Iterable[str], known: set[str], loc: Loc, what: str) -> Iterator[Problem]:
    for i, name in enumerate(names):
        if name not in known:
            yield (*loc, i), f"unknown {what} {name!r}"


def config_problems(config: PolicyConfig) -> list[Problem]:
    """Duplicate names and names used but not defined (chains and time windows named by
    routes are checked while compiling the tree)."""
    problems: list[Problem] = []
    problems += _duplicates("receivers", (r.name for r in config.receivers), "receivers")
    problems += _duplicates("time_windows", (w.name for w in config.time_windows), "time window")
    problems += _duplicates("templates", (t.name for t in config.templates), "template")
    problems += _duplicates("chains", (c.name for c in config.chains), "chain")
    problems += _duplicates("inhibit_rules", (r.name for r in config.inhibit_rules), "rule")
    receivers = {r.name for r in config.receivers}
    windows = {w.name for w in config.time_windows}
    templates = {t.name for t in config.templates}
    for i, receiver in enumerate(config.receivers):
        problems += _unknown(
            receiver.quiet_hours, windows, ("receivers", i, "quiet_hours"), "time window"
        )
        if receiver.fallback is not None and receiver.fallback not in receivers:
            message = f"unknown receiver {receiver.fallback!r}"
            problems.append((("receivers", i, "fallback"), message))
    for i, chain in enumerate(config.chains):
        for j, step in enumerate(chain.steps):
            where: Loc = ("chains", i, "steps", j, "notify")
            problems += _unknown(step.notify, receivers, where, "receiver")
        problems += _unknown(chain.remind, receivers, ("chains", i, "remind"), "receiver")
    owners: list[tuple[Loc, RouteConfig | None]] = [(("defaults",), None)]
    owners += list(_routes(config.routes, ("routes",)))
    seen: set[str] = set()
    for loc, route in owners:
        options = route if route is not None else config.defaults
        if route is not None:
            if route.name in seen:
                problems.append(((*loc, "name"), "route names must be unique"))
            seen.add(route.name)
        if options.notify:
            missing = [n for n in options.notify if n not in receivers]
            if missing:
                name = route.name if route is not None else "defaults"
                message = f"{_where(loc)} ({name}) notifies unknown receiver(s) {missing}"
                problems.append(((*loc, "notify", options.notify.index(missing[0])), message))
        for j, action in enumerate(options.actions or ()):
            if action.template is not None and action.template not in templates:
                problems.append(
                    ((*loc, "actions", j, "template"), f"unknown template {action.template!r}")
                )
    return problems


def _where(loc: Loc) -> str:
    """``("routes", 1, "routes", 0)`` -> ``routes[1].routes[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


def resource_problems(
    config: PolicyConfig, root: Route, directory: ResourceDirectory | None
) -> list[Problem]:
    """A reply that lists resources needs a country, and the directory must have entries of
    every kind the template lists for that country: a crisis reply never goes out short."""
    templates = {t.name: t for t in config.templates}
    problems: list[Problem] = []
    for route in root.walk():
        for j, action in enumerate(route.actions):
            template = templates.get(action.template or "")
            if template is None or not template.resources:
                continue
            loc = (*route.loc, "actions", j, "template")
            if directory is None:
                message = f"template {template.name!r} lists resources: set resources.file"
                problems.append((loc, message))
            elif route.country is None:
                message = (
                    f"route {route.name!r} replies with resources but has no country "
                    "(set country on the route or in defaults)"
                )
                problems.append((loc, message))
            else:
                for kind in template.resources:
                    if not directory.lookup(country=route.country, kinds=(kind,)):
                        message = (
                            f"template {template.name!r}: no {kind} resource for "
                            f"{route.country} in the resource directory"
                        )
                        problems.append((loc, message))
    return problems
