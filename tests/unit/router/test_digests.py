"""Comments that join an open case: at most one notice per group_interval to each receiver
already paged, a page per comment, or one digest once a storm piled up. Each line of a
timeline is (minute, what happens, the actions published at that moment)."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.router.policy.digest import DigestSummary
from shared.bus.memory import MemoryBus
from shared.events import ClassifiedComment, Label, Severity
from shared.runtime import Runtime
from tests.unit import factories as f
from tests.unit.router.conftest import (
    MovingClock,
    Router,
    Timeline,
    play_timeline,
    policy_with,
    prepared_router,
    published_actions,
    route,
)

POLICY = """
version: digests
receivers:
  - {name: moderators, channel: webhook, url: "http://h.test/m"}
  - {name: leads, channel: webhook, url: "http://h.test/l"}
routes:
  - name: abuse
    matchers: ["label=abusive"]
    notify: [moderators, leads]
    group_by: [platform, post_id]
    group_wait: 0s
    group_interval: 5m
    digest_after: 5
"""
FIRST_PAGES = ["notify:leads:1", "notify:moderators:1"]
DIGESTS_1 = ["digest:leads:1", "digest:moderators:1"]


def abuse(n: int, severity: Severity = Severity.MEDIUM) -> ClassifiedComment:
    return f.classified(
        f.comment(f"forum:c-{n}"), f.classification(Label.ABUSIVE, severity=severity)
    )


# The case opens at 0 and pages; 9 more comments pile on within 2 minutes.
PILE_ON: Timeline = [
    (0, "comment:1", FIRST_PAGES),
    *((0.25 * (n - 1), f"comment:{n}", []) for n in range(2, 11)),
]


def told(receiver: str, *comments: int) -> list[str]:
    return [f"comment:{receiver}:generic:forum:c-{n}:0" for n in comments]


TIMELINES: dict[str, Timeline] = {
    "a pile-on makes one digest per receiver at the interval": [
        *PILE_ON,
        (4.9, "tick", []),
        (5, "tick", DIGESTS_1),
        (5, "tick", []),
        (10, "tick", []),
        (60, "tick", []),
    ],
    "nothing joined: nothing to tell": [
        (0, "comment:1", FIRST_PAGES),
        (5, "tick", []),
        (10, "tick", []),
        (60, "tick", []),
    ],
    "a few comments: one page each, at the interval": [
        (0, "comment:1", FIRST_PAGES),
        (1, "comment:2", []),
        (2, "comment:3", []),
        (5, "tick", sorted(told("leads", 2, 3) + told("moderators", 2, 3))),
        (10, "tick", []),
    ],
    "later comments wait for the interval after the last notice": [
        *PILE_ON,
        (5, "tick", DIGESTS_1),
        (6, "comment:11", []),
        (9.9, "tick", []),
        (10, "tick", sorted(told("leads", 11) + told("moderators", 11))),
        *((11 + n / 10, f"comment:{n}", []) for n in range(12, 17)),
        (14.9, "tick", []),
        (15, "tick", ["digest:leads:3", "digest:moderators:3"]),
    ],
    "a quiet spell, then a comment: told at the next interval": [
        (0, "comment:1", FIRST_PAGES),
        (5, "tick", []),
        (7, "comment:2", []),
        (10, "tick", sorted(told("leads", 2) + told("moderators", 2))),
    ],
    "acknowledged: no digest": [
        *PILE_ON,
        (3, "acknowledge", ["acknowledge:leads", "acknowledge:moderators"]),
        (5, "tick", []),
        (6, "comment:11", []),
        (10, "tick", []),
        (60, "tick", []),
    ],
    "resolved: no digest": [
        *PILE_ON,
        (3, "resolve", ["resolve:leads", "resolve:moderators"]),
        (5, "tick", []),
        (60, "tick", []),
    ],
    "a redelivered comment is not told again": [
        *PILE_ON,
        (3, "comment:2", []),
        (5, "tick", DIGESTS_1),
        (6, "comment:3", []),
        (6, "comment:10", []),
        (10, "tick", []),
        (60, "tick", []),
    ],
    "reopened: digests resume under the new round's ids": [
        (0, "comment:1", FIRST_PAGES),
        (1, "resolve", ["resolve:leads", "resolve:moderators"]),
        (2, "reopen", []),
        (2, "tick", ["r1:notify:leads:1", "r1:notify:moderators:1"]),
        *((3 + n / 10, f"comment:{n}", []) for n in range(2, 8)),
        (6.9, "tick", []),
        (7, "tick", ["r1:digest:leads:1", "r1:digest:moderators:1"]),
    ],
}


async def play(router: Router, bus: MemoryBus, clock: MovingClock, timeline: Timeline) -> None:
    async def on(what: str, now: datetime) -> bool:
        if what.startswith("comment:"):
            await route(router, abuse(int(what.split(":")[1])))
        return what.startswith("comment:")

    await play_timeline(router, bus, clock, timeline, on)


@pytest.mark.parametrize("timeline", TIMELINES.values(), ids=TIMELINES.keys())
async def test_comments_joining_an_open_case(
    runtime: Runtime, bus: MemoryBus, clock: MovingClock, timeline: Timeline
) -> None:
    router = await prepared_router(runtime, policy_with(POLICY))

    await play(router, bus, clock, timeline)

    ids = [a.action_id for a in published_actions(bus)]
    assert len(ids) == len(set(ids))


async def test_a_digest_summarises_the_count_labels_and_severity_change(
    runtime: Runtime, bus: MemoryBus, clock: MovingClock
) -> None:
    router = await prepared_router(runtime, policy_with(POLICY))
    await route(router, abuse(1))
    for n in range(2, 8):
        clock.at(n / 4)
        await route(router, abuse(n, Severity.HIGH if n == 7 else Severity.MEDIUM))
    clock.at(5)
    await router.timers.tick()

    digests = [a for a in published_actions(bus) if ":digest:" in a.action_id]
    assert {a.receiver.name for a in digests} == {"leads", "moderators"}
    assert {a.message for a in digests} == {
        "6 new comment(s) in this case (abusive ×6); severity medium → high."
    }
    assert {(a.severity, a.fallback, a.comment.comment_id) for a in digests} == {
        (Severity.HIGH, None, "forum:c-1")
    }


@pytest.mark.parametrize(
    ("summary", "lang", "text"),
    [
        (
            DigestSummary.of([["abusive"]] * 3, before=Severity.LOW, now=Severity.LOW),
            "en",
            "3 new comment(s) in this case (abusive ×3).",
        ),
        (
            DigestSummary.of(
                [["abusive", "question"], ["abusive"], ["question", "question"]],
                before=Severity.MEDIUM,
                now=Severity.HIGH,
            ),
            "fr",
            "3 nouveau(x) commentaire(s) dans ce cas (abusive ×2, question ×2)"
            " ; gravité medium → high.",
        ),
        (
            DigestSummary.of([[], []], before=Severity.NONE, now=Severity.NONE),
            "de",
            "2 new comment(s) in this case.",
        ),
    ],
    ids=["en-one-label", "fr-labels-and-severity", "unknown-language-falls-back-to-en"],
)
def test_digest_text(summary: DigestSummary, lang: str, text: str) -> None:
    assert summary.text(lang) == text
