"""Inhibition: an open case (say, a crisis case about an author) mutes the pages that new
comments would cause (say, abuse alerts about the same author). Source/target/equal, as in
Alertmanager's inhibit rules; the open cases are passed in, never looked up."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from services.router.policy.config import CompiledInhibitRule
from services.router.policy.matchers import Facts


@dataclass(frozen=True, slots=True)
class OpenCase:
    """What inhibition needs to know of a case that is not resolved."""

    route: str
    facts: Facts  # label, category, severity... as matchers see them
    identity: Mapping[str, str] = field(default_factory=dict)  # platform, author_id...


def inhibiting(
    rules: Iterable[CompiledInhibitRule],
    *,
    target: Facts,
    identity: Mapping[str, str],
    sources: Iterable[OpenCase],
) -> tuple[CompiledInhibitRule, OpenCase] | None:
    """The first (rule, source) that mutes a comment with these facts, if any."""
    candidates = tuple(sources)
    for rule in rules:
        if not all(m.matches(target) for m in rule.target):
            continue
        for source in candidates:
            if all(m.matches(source.facts) for m in rule.source) and all(
                f in identity and source.identity.get(f) == identity[f] for f in rule.equal
            ):
                return rule, source
    return None
