"""``vigie policy test``: a table of (comment, classification) -> expected routes, receivers
and actions, checked against a policy without running anything (like ``amtool config routes
test``). Only the expectations a case states are compared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from services.router.policy.config import Policy, read_yaml_mapping, validate
from services.router.policy.decide import RouteDecision, decide, facts, identity
from services.router.policy.inhibit import OpenCase
from services.router.policy.schema import Approval
from services.router.policy.silences import Silence
from shared.events import (
    Author,
    Classification,
    ClassifiedComment,
    Comment,
    CommentKind,
    Label,
    Severity,
    derive_id,
)

DEFAULT_AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday, noon UTC


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CaseComment(_Strict):
    platform: str = "generic"
    source: str = "test"
    kind: CommentKind = CommentKind.CREATED
    author_id: str = "author-1"
    post_id: str = "post-1"
    thread_id: str | None = None


class CaseClassification(_Strict):
    labels: tuple[Label, ...] = ()
    categories: tuple[str, ...] = ()
    severity: Severity = Severity.NONE
    scores: dict[Label, float] = Field(
        default_factory=dict, description="Default: 0.9 if labelled."
    )
    lang: str = "en"


class CaseOpen(_Strict):
    """An open case the comment arrives next to (for inhibition); same author by default."""

    route: str
    labels: tuple[Label, ...] = ()
    categories: tuple[str, ...] = ()
    severity: Severity = Severity.NONE
    identity: dict[str, str] = Field(default_factory=dict)


class Expectation(_Strict):
    routes: tuple[str, ...] | None = None
    severity: Severity | None = Field(default=None, description="The highest of the routes'.")
    receivers: tuple[str, ...] | None = None
    actions: tuple[str, ...] | None = None
    requires_approval: tuple[str, ...] | None = None
    muted: bool | None = None
    deferred: tuple[str, ...] | None = None


class PolicyCase(_Strict):
    name: str = Field(min_length=1)
    at: datetime = DEFAULT_AT
    comment: CaseComment = CaseComment()
    classification: CaseClassification = CaseClassification()
    open_cases: tuple[CaseOpen, ...] = ()
    silences: tuple[Silence, ...] = ()
    expect: Expectation


class PolicyCases(_Strict):
    cases: tuple[PolicyCase, ...] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    routes: tuple[str, ...]
    got: dict[str, object]
    mismatches: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches


def parse_cases(text: str, *, origin: str) -> PolicyCases:
    return validate(PolicyCases, read_yaml_mapping(text, origin, "cases file"), text, origin)


def classified(case: PolicyCase, index: int) -> ClassifiedComment:
    k = case.classification
    comment_id = f"policy-test-{index}"
    when = case.at if case.at.tzinfo else case.at.replace(tzinfo=UTC)
    scores = {label: (0.9 if label in k.labels else 0.0) for label in Label} | k.scores
    comment = Comment(
        event_id=derive_id("policy-test", comment_id),
        trace_id="policy-test",
        occurred_at=when,
        platform=case.comment.platform,
        source=case.comment.source,
        comment_id=comment_id,
        kind=case.comment.kind,
        text="",
        author=Author(id=case.comment.author_id),
        post_id=case.comment.post_id,
        thread_id=case.comment.thread_id or comment_id,
        received_at=when,
        delivery_id=comment_id,
    )
    verdict = Classification(
        labels=k.labels,
        categories=k.categories,
        severity=k.severity,
        scores=scores,
        lang=k.lang,
        rationale="policy test",
        model_version="policy-test",
    )
    return ClassifiedComment(
        event_id=comment.event_id,
        trace_id=comment.trace_id,
        occurred_at=when,
        comment=comment,
        classification=verdict,
    )


def summary(decisions: list[RouteDecision]) -> dict[str, object]:
    """What a case's expectations are compared with."""
    severities = [d.severity for d in decisions]
    return {
        "routes": tuple(d.route for d in decisions),
        "severity": max(severities, key=lambda s: s.rank) if severities else None,
        "receivers": tuple(dict.fromkeys(r.name for d in decisions for r in d.pages_now)),
        "actions": tuple(str(a) for d in decisions for a in d.actions),
        "requires_approval": tuple(
            str(a) for d in decisions for a in d.actions if a.approval is Approval.REQUIRES_APPROVAL
        ),
        "muted": any(d.muted_by for d in decisions),
        "deferred": tuple(dict.fromkeys(p.receiver for d in decisions for p in d.deferred)),
    }


def run_case(policy: Policy, case: PolicyCase, index: int) -> CaseResult:
    item = classified(case, index)
    who = identity(item)
    open_cases = tuple(
        OpenCase(
            route=c.route,
            facts={
                **facts(item),
                "label": tuple(v.value for v in c.labels),
                "category": c.categories,
                "severity": (c.severity.value,),
            },
            identity={**who, **c.identity},
        )
        for c in case.open_cases
    )
    decisions = decide(policy, item, open_cases=open_cases, silences=case.silences)
    got = summary(decisions)
    mismatches = []
    for key, expected in case.expect.model_dump(exclude_none=True).items():
        actual = got[key]
        if isinstance(expected, list):
            expected = tuple(expected)
        if expected != actual:
            mismatches.append(f"{key}: expected {_show(expected)}, got {_show(actual)}")
    return CaseResult(case.name, tuple(d.route for d in decisions), got, tuple(mismatches))


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def run_cases(policy: Policy, cases: PolicyCases) -> list[CaseResult]:
    return [run_case(policy, case, i) for i, case in enumerate(cases.cases)]
