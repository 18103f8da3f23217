"""From a classified comment to its routes: first match, ``continue``, group keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.router.policy.config import parse_policy
from services.router.policy.decide import decide, facts, group_key
from shared.events import Channel, Label, Receiver, Severity
from tests.unit import factories as f

S, A, Q, P = Label.SENSITIVE, Label.ABUSIVE, Label.QUESTION, Label.PRAISE

POLICY = parse_policy(
    """\
version: "t"
receivers:
  - {name: crisis-team, channel: webhook, url: "http://r.test/crisis"}
  - {name: moderators, channel: webhook, url: "http://r.test/mods"}
routes:
  - name: crisis
    matchers: ["label=sensitive"]
    severity: critical
    notify: [crisis-team]
    continue: true
  - name: abuse
    matchers: ["label=abusive"]
    notify: [moderators, crisis-team]
    group_by: [post_id]
  - name: french-questions
    matchers: ["label=question", "lang=fr"]
    severity: low
    group_by: [platform, thread_id, label]
  - name: everything-else
    open_case: false
    group_by: []
"""
)
SHIPPED = parse_policy(
    (Path(__file__).resolve().parents[3] / "config" / "policy.yaml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize(
    ("labels", "lang", "routes"),
    [
        ((S,), "en", ["crisis", "everything-else"]),
        ((S, A), "en", ["crisis", "abuse"]),
        ((A,), "en", ["abuse"]),
        ((A, Q), "fr", ["abuse"]),
        ((Q,), "fr", ["french-questions"]),
        ((Q,), "en", ["everything-else"]),
        ((P,), "fr", ["everything-else"]),
        ((), "und", ["everything-else"]),
    ],
)
def test_first_match_decides_and_continue_lets_the_next_match(
    labels: tuple[Label, ...], lang: str, routes: list[str]
) -> None:
    verdict = f.classification(*labels, severity=Severity.MEDIUM, lang=lang)
    classified = f.classified(f.comment(), verdict)

    assert [d.route for d in decide(POLICY, classified)] == routes


def test_a_decision_carries_severity_receivers_and_group_key() -> None:
    classified = f.classified(
        f.comment("forum:c-2", parent_id="forum:c-1", post_id="p-9", author_id="u-7"),
        f.classification(S, A, severity=Severity.HIGH),
    )

    crisis, abuse = decide(POLICY, classified)

    assert crisis.open_case is True
    assert crisis.severity is Severity.CRITICAL  # the route's severity wins
    assert crisis.receivers == (
        Receiver(name="crisis-team", channel=Channel.WEBHOOK, url="http://r.test/crisis"),
    )
    assert crisis.group_key == "crisis|platform=generic|author_id=u-7"
    assert abuse.severity is Severity.HIGH  # no route severity: the classification's
    assert [r.name for r in abuse.receivers] == ["moderators", "crisis-team"]
    assert abuse.group_key == "abuse|post_id=p-9"


def test_a_route_that_opens_no_case_is_still_a_decision() -> None:
    (decision,) = decide(POLICY, f.classified(f.comment(), f.classification()))

    assert decision.route == "everything-else"
    assert decision.open_case is False
    assert decision.receivers == ()
    assert decision.group_key == "everything-else"


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ((), "r"),
        (("platform",), "r|platform=generic"),
        (("source", "author_id"), "r|source=forum|author_id=u-7"),
        (("post_id", "thread_id"), "r|post_id=p-9|thread_id=forum:c-1"),
        (("label",), "r|label=abusive,sensitive"),
        (("author_id", "platform"), "r|author_id=u-7|platform=generic"),
    ],
)
def test_group_keys_are_built_from_group_by_in_order(
    group_by: tuple[str, ...], expected: str
) -> None:
    route = POLICY.config.routes[0].model_copy(update={"name": "r", "group_by": group_by})
    classified = f.classified(
        f.comment("forum:c-2", parent_id="forum:c-1", post_id="p-9", author_id="u-7"),
        f.classification(S, A),
    )

    assert group_key(route, classified) == expected


def test_two_comments_of_one_author_share_a_group_key_and_other_authors_do_not() -> None:
    def key(comment_id: str, author: str) -> str:
        classified = f.sensitive(f.comment(comment_id, author_id=author))
        return decide(SHIPPED, classified)[0].group_key

    assert key("forum:c-1", "u-1") == key("forum:c-2", "u-1")
    assert key("forum:c-1", "u-1") != key("forum:c-3", "u-2")


@pytest.mark.parametrize(
    ("labels", "route", "severity", "receivers"),
    [
        ((S,), "crisis", Severity.CRITICAL, ["crisis-team"]),
        ((S, A), "crisis", Severity.CRITICAL, ["crisis-team"]),
        ((A,), "abuse", Severity.MEDIUM, ["moderators"]),
        ((Q,), "questions", Severity.LOW, []),
    ],
)
def test_the_shipped_policy(
    labels: tuple[Label, ...], route: str, severity: Severity, receivers: list[str]
) -> None:
    classified = f.classified(f.comment(), f.classification(*labels, severity=Severity.MEDIUM))

    (decision,) = decide(SHIPPED, classified)

    assert (decision.route, decision.severity) == (route, severity)
    assert [r.name for r in decision.receivers] == receivers


def test_the_shipped_policy_ignores_praise() -> None:
    assert decide(SHIPPED, f.classified(f.comment(), f.classification(P))) == []


def test_facts_expose_every_matcher_field() -> None:
    classified = f.classified(
        f.comment(), f.classification(S, A, severity=Severity.HIGH, categories=("suicide",))
    )

    assert facts(classified) == {
        "label": ("sensitive", "abusive"),
        "category": ("suicide",),
        "severity": ("high",),
        "lang": ("en",),
        "platform": ("generic",),
        "source": ("forum",),
        "kind": ("created",),
    }
