"""Alertmanager-style matchers: ``name=value``, ``!=``, ``=~`` and ``!~`` (regex, anchored).

Fields with several values (``label``, ``category``) match when any value matches for
``=``/``=~``, and when no value matches for ``!=``/``!~``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

FIELDS = ("label", "category", "severity", "lang", "platform", "source", "kind")
_SYNTAX = re.compile(r"^\s*([a-z_]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


class Op(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    field: str
    op: Op
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, facts: Mapping[str, tuple[str, ...]]) -> bool:
        values = facts.get(self.field, ())
        if self.op is Op.EQ:
            return self.value in values
        if self.op is Op.NE:
            return self.value not in values
        assert self.regex is not None
        hit = any(self.regex.fullmatch(v) for v in values)
        return hit if self.op is Op.RE else not hit

    def __str__(self) -> str:
        return f"{self.field}{self.op}{self.value}"


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher; ValueError names what is wrong."""
    found = _SYNTAX.match(text)
    if not found:
        raise ValueError(f"not a matcher: {text!r} (expected field=value, !=, =~ or !~)")
    field, op, value = found.group(1), Op(found.group(2)), found.group(3).strip("\"'")
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r} in {text!r}; known: {', '.join(FIELDS)}")
    regex = None
    if op in (Op.RE, Op.NRE):
        try:
            regex = re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regular expression in {text!r}: {exc}") from exc
    return Matcher(field, op, value, regex)
