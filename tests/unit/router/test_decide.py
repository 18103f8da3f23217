"""From a classified comment to its routes: the tree, ``continue``, group keys, actions,
and what mutes or defers a page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.router.policy.config import load_policy, parse_policy
from services.router.policy.decide import decide, facts, group_key
from services.router.policy.inhibit import OpenCase
from services.router.policy.quiet import DeferredPage
from services.router.policy.schema import ActionType, Approval
from services.router.policy.silences import Silence
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
SHIPPED = load_policy(Path(__file__).resolve().parents[3] / "config" / "policy.yaml")
MONDAY_NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


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


NESTED = parse_policy(
    """\
version: "t"
routes:
  - name: parent
    matchers: ["label=abusive"]
    routes:
      - name: threats
        matchers: ["category=threat"]
        continue: true
      - name: french
        matchers: ["lang=fr"]
      - name: never-after-french
        matchers: ["lang=fr"]
  - name: sibling
    matchers: ["label=abusive"]
"""
)


@pytest.mark.parametrize(
    ("categories", "lang", "routes"),
    [
        ((), "en", ["parent"]),  # no child matches: the parent itself decides
        (("threat",), "en", ["threats"]),  # continue, but no later sibling matches
        (("threat",), "fr", ["threats", "french"]),
        ((), "fr", ["french"]),  # the first matching child stops the search
    ],
)
def test_the_deepest_match_wins_and_a_matched_subtree_stops_the_search(
    categories: tuple[str, ...], lang: str, routes: list[str]
) -> None:
    classified = f.classified(f.comment(), f.classification(A, categories=categories, lang=lang))

    assert [d.route for d in decide(NESTED, classified)] == routes


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
    classified = f.classified(
        f.comment("forum:c-2", parent_id="forum:c-1", post_id="p-9", author_id="u-7"),
        f.classification(S, A),
    )

    assert group_key("r", group_by, classified) == expected


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

    (decision,) = decide(SHIPPED, classified, at=MONDAY_NOON)

    assert (decision.route, decision.severity) == (route, severity)
    assert [r.name for r in decision.receivers] == receivers


def test_the_shipped_policy_opens_no_case_for_praise() -> None:
    decisions = decide(SHIPPED, f.classified(f.comment(), f.classification(P)))

    assert [(d.route, d.open_case) for d in decisions] == [("praise", False)]


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        ("fr", ["Vous n'êtes pas seul·e", "3114, numéro national", "SAMU (urgence médicale) — 15"]),
        ("en", ["You are not alone", "3114, national suicide prevention line — 3114"]),
        ("de", ["Vous n'êtes pas seul·e", "3114"]),  # no German text: the first language
    ],
)
def test_a_crisis_decision_carries_its_reply_rendered_in_the_comments_language(
    lang: str, says: list[str]
) -> None:
    classified = f.classified(
        f.comment(), f.classification(S, severity=Severity.HIGH, categories=("suicide",), lang=lang)
    )

    (decision,) = decide(SHIPPED, classified)

    (reply,) = decision.actions
    assert (reply.kind, reply.approval, reply.template) == (
        ActionType.REPLY,
        Approval.AUTO,
        "crisis-resources",
    )
    assert reply.text is not None and "{resources}" not in reply.text
    for text in says:
        assert text in reply.text
    assert reply.resources == ("fr-3114", "fr-samu-15")
    assert decision.chain == "crisis"


def test_actions_take_the_policys_default_approval_unless_they_set_their_own() -> None:
    insult = f.classified(f.comment(), f.classification(A, categories=("insult",)))
    threat = f.classified(f.comment(), f.classification(A, categories=("threat",)))

    ((hide,),) = [d.actions for d in decide(SHIPPED, insult)]
    ((hide_now,),) = [d.actions for d in decide(SHIPPED, threat)]

    assert (hide.kind, hide.approval) == (ActionType.HIDE, Approval.REQUIRES_APPROVAL)
    assert (hide_now.kind, hide_now.approval) == (ActionType.HIDE, Approval.AUTO)


def test_a_queue_action_carries_its_sla_by_time_of_day() -> None:
    question = f.classification(Q)

    in_hours = decide(SHIPPED, f.classified(f.comment(), question), at=MONDAY_NOON)
    at_night = decide(
        SHIPPED, f.classified(f.comment(), question), at=MONDAY_NOON + timedelta(hours=11)
    )

    assert [(d.route, d.actions[0].sla) for d in in_hours] == [("questions", timedelta(hours=4))]
    assert [(d.route, d.actions[0].sla) for d in at_night] == [
        ("questions-after-hours", timedelta(hours=16))
    ]


def test_time_windows_use_when_the_comment_was_received_by_default() -> None:
    saturday = datetime(2026, 1, 10, 11, 0, tzinfo=UTC)
    comment = f.comment().model_copy(update={"received_at": saturday})

    (decision,) = decide(SHIPPED, f.classified(comment, f.classification(Q)))

    assert decision.route == "questions-after-hours"


def crisis_case_of(author: str) -> OpenCase:
    return OpenCase(
        route="crisis",
        facts={"label": ("sensitive",), "severity": ("critical",)},
        identity={"platform": "generic", "author_id": author},
    )


@pytest.mark.parametrize(
    ("open_cases", "muted_by"),
    [
        ((), None),
        ((crisis_case_of("u-1"),), "inhibit_rule:crisis-mutes-abuse"),
        ((crisis_case_of("u-2"),), None),
    ],
    ids=["no-open-case", "same-author", "other-author"],
)
def test_an_open_crisis_case_on_the_author_mutes_abuse_pages(
    open_cases: tuple[OpenCase, ...], muted_by: str | None
) -> None:
    insult = f.classified(f.comment(author_id="u-1"), f.classification(A, severity=Severity.HIGH))

    (decision,) = decide(SHIPPED, insult, open_cases=open_cases)

    assert decision.muted_by == muted_by
    assert decision.open_case is True  # the case still opens: only the page is held back
    assert [r.name for r in decision.pages_now] == ([] if muted_by else ["moderators"])


INHIBITING = parse_policy(
    """\
version: "t"
receivers:
  - {name: crisis-team, channel: webhook, url: "http://r.test/crisis"}
  - {name: moderators, channel: webhook, url: "http://r.test/mods"}
inhibit_rules:
  - name: crisis-mutes-abuse
    source_matchers: ["label=sensitive"]
    target_matchers: ["label=abusive"]
    equal: [author_id]
routes:
  - {name: crisis, matchers: ["label=sensitive"], severity: critical, notify: [crisis-team],
     continue: true}
  - {name: abuse, matchers: ["label=abusive"], notify: [moderators]}
"""
)


def test_a_comments_own_crisis_decision_mutes_its_abuse_page() -> None:
    both = f.classified(f.comment(), f.classification(S, A, severity=Severity.HIGH))

    crisis, abuse = decide(INHIBITING, both)

    assert (crisis.muted_by, abuse.muted_by) == (None, "inhibit_rule:crisis-mutes-abuse")


def silence(matchers: tuple[str, ...], *, hours: int = 1) -> Silence:
    return Silence(
        id="s-1",
        matchers=matchers,
        starts_at=f.NOW - timedelta(minutes=5),
        ends_at=f.NOW + timedelta(hours=hours),
        created_by="moderator",
        comment="a known pile-on",
    )


@pytest.mark.parametrize(
    ("labels", "silences", "muted_by"),
    [
        ((A,), (silence(("label=abusive",)),), "silence:s-1"),
        ((A,), (silence(("label=question",)),), None),
        ((S,), (silence(("label=sensitive",)),), None),  # critical is never silenced
    ],
)
def test_silences_mute_matching_pages_but_never_critical_ones(
    labels: tuple[Label, ...], silences: tuple[Silence, ...], muted_by: str | None
) -> None:
    item = f.classified(f.comment(), f.classification(*labels, severity=Severity.MEDIUM))

    (decision,) = decide(SHIPPED, item, at=f.NOW, silences=silences)

    assert decision.muted_by == muted_by


QUIET = parse_policy(
    """\
version: "t"
time_windows:
  - {name: nights, time_zone: Europe/Paris, times: ["22:00-07:00"]}
receivers:
  - {name: moderators, channel: webhook, url: "http://r.test/mods", quiet_hours: [nights]}
  - {name: on-call, channel: webhook, url: "http://r.test/on-call"}
routes:
  - {name: all, notify: [moderators, on-call]}
"""
)


@pytest.mark.parametrize(
    ("severity", "hour_utc", "deferred"),
    [
        (Severity.HIGH, 12, ()),
        (Severity.HIGH, 23, (DeferredPage("moderators", datetime(2026, 1, 6, 6, 0, tzinfo=UTC)),)),
        (Severity.CRITICAL, 23, ()),
    ],
    ids=["day", "night", "critical-at-night"],
)
def test_quiet_hours_defer_a_receivers_pages_except_critical_ones(
    severity: Severity, hour_utc: int, deferred: tuple[DeferredPage, ...]
) -> None:
    item = f.classified(f.comment(), f.classification(A, severity=severity))

    (decision,) = decide(QUIET, item, at=MONDAY_NOON.replace(hour=hour_utc))

    assert decision.deferred == deferred
    assert [r.name for r in decision.receivers] == ["moderators", "on-call"]
    waiting = {d.receiver for d in deferred}
    assert [r.name for r in decision.pages_now] == [
        n for n in ("moderators", "on-call") if n not in waiting
    ]


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
        "score.sensitive": ("0.9",),
        "score.abusive": ("0.9",),
        "score.question": ("0.0",),
        "score.praise": ("0.0",),
    }
