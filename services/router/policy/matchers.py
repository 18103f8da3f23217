"""Alertmanager-style matchers: ``name=value``, ``!=``, ``=~`` and ``!~`` (regex, anchored),
plus thresholds ``>=``, ``>``, ``<=``, ``<`` on ordered fields.

Fields with several values (``label``, ``category``) match when any value matches for
``=``/``=~``, and when no value matches for ``!=``/``!~``. Thresholds apply to the
classifier's per-label scores (``score.sensitive>=0.8``) and to ``severity``
(``severity>=high``, in the order none < low < medium < high < critical).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from shared.events import Label, Severity

FIELDS = ("label", "category", "severity", "lang", "platform", "source", "kind")
SCORE_FIELDS = tuple(f"score.{label.value}" for label in Label)
_SYNTAX = re.compile(r"^\s*([a-z_]+(?:\.[a-z_]+)?)\s*(=~|!~|!=|>=|<=|=|>|<)\s*(.*?)\s*$")

Facts = Mapping[str, tuple[str, ...]]


class Op(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"
    GE = ">="
    GT = ">"
    LE = "<="
    LT = "<"


_THRESHOLDS = (Op.GE, Op.GT, Op.LE, Op.LT)


def _compare(op: Op, left: float, right: float) -> bool:
    if op is Op.GE:
        return left >= right
    if op is Op.GT:
        return left > right
    if op is Op.LE:
        return left <= right
    return left < right


def _rank(field: str, value: str) -> float:
    """The number an ordered field's value stands for (NaN when it is not one)."""
    try:
        return float(Severity(value).rank) if field == "severity" else float(value)
    except ValueError:
        return math.nan


@dataclass(frozen=True, slots=True)
class Matcher:
    field: str
    op: Op
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, facts: Facts) -> bool:
        values = facts.get(self.field, ())
        if self.op is Op.EQ:
            return self.value in values
        if self.op is Op.NE:
            return self.value not in values
        if self.op in _THRESHOLDS:
            threshold = _rank(self.field, self.value)
            return any(_compare(self.op, _rank(self.field, v), threshold) for v in values)
        assert self.regex is not None
        hit = any(self.regex.fullmatch(v) for v in values)
        return hit if self.op is Op.RE else not hit

    def __str__(self) -> str:
        return f"{self.field}{self.op}{self.value}"


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher; ValueError names what is wrong."""
    found = _SYNTAX.match(text)
    if not found:
        raise ValueError(
            f"not a matcher: {text!r} (expected field=value, !=, =~, !~, >=, >, <= or <)"
        )
    field, op, value = found.group(1), Op(found.group(2)), found.group(3).strip("\"'")
    if field not in FIELDS and field not in SCORE_FIELDS:
        known = ", ".join((*FIELDS, "score.<label>"))
        raise ValueError(f"unknown field {field!r} in {text!r}; known: {known}")
    if field in SCORE_FIELDS and op not in _THRESHOLDS:
        raise ValueError(f"a score is compared with >=, >, <= or <, not {op.value!r}: {text!r}")
    if op in _THRESHOLDS:
        if field not in SCORE_FIELDS and field != "severity":
            raise ValueError(f"only scores and severity take thresholds: {text!r}")
        if math.isnan(_rank(field, value)):
            expected = "a severity" if field == "severity" else "a number"
            raise ValueError(f"the threshold in {text!r} is not {expected}")
    regex = None
    if op in (Op.RE, Op.NRE):
        try:
            regex = re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regular expression in {text!r}: {exc}") from exc
    return Matcher(field, op, value, regex)
