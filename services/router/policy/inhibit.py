"""Inhibition: an open case (say, a crisis case about an author) mutes the pages that new
comments would cause (say, abuse alerts about the same author). Source/target/equal, as in
Alertmanager's inhibit rules; the open cases are passed in, never looked up."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


# The ``equal`` fields from the most selective to the least: an open case can only inhibit a
# comment that has the same value for the most selective field of the rule.
_SELECTIVE = ("author_id", "thread_id", "post_id", "source", "platform")


def key_fields(rules: Iterable[CompiledInhibitRule]) -> tuple[str, ...]:
    """For each rule, the most selective of its ``equal`` fields (without repeats): a case
    can inhibit a comment only if they agree on one of these. Every rule has one (the schema
    requires a non-empty ``equal``)."""
    found: dict[str, None] = {}
    for rule in rules:
        ranked = sorted(rule.equal, key=lambda f: _SELECTIVE.index(f) if f in _SELECTIVE else 99)
        if ranked:
            found[ranked[0]] = None
    return tuple(found)


class Sources:
    """Open cases indexed by the identity values the inhibit rules compare, so that a comment
    is checked against the cases that share one of them, not against every open case."""

    def __init__(self, fields: Sequence[str], cases: Iterable[OpenCase] = ()) -> None:
        self._fields = tuple(fields)
        self._by: dict[tuple[str, str], list[OpenCase]] = {}
        for case in cases:
            self.add(case)

    @property
    def fields(self) -> tuple[str, ...]:
        return self._fields

    def add(self, case: OpenCase) -> None:
        for name in self._fields:
            value = case.identity.get(name)
            if value is not None:
                self._by.setdefault((name, value), []).append(case)

    def near(self, identity: Mapping[str, str]) -> tuple[OpenCase, ...]:
        """The cases that agree with ``identity`` on at least one of the fields."""
        found: dict[int, OpenCase] = {}
        for name in self._fields:
            value = identity.get(name)
            if value is None:
                continue
            for case in self._by.get((name, value), ()):
                found.setdefault(id(case), case)
        return tuple(found.values())
