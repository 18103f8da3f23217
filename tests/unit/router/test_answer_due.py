"""A queued question whose answer falls due unanswered: one reminder to each receiver of the
case's route, once. Each line of a timeline is (minute, what happens, the actions published
at that moment)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from services.router.actions import answer_due_text
from shared.bus.memory import MemoryBus
from shared.events import ClassifiedComment, Label, Severity
from shared.runtime import Runtime
from shared.storage.tables import audit_log
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
version: answer-due
receivers:
  - {name: community, channel: webhook, url: "http://h.test/c"}
  - {name: leads, channel: webhook, url: "http://h.test/l"}
routes:
  - name: questions
    matchers: ["label=question"]
    notify: [community, leads]
    group_by: [platform, post_id]
    actions: [{kind: queue, sla: 60m}]
  - name: quiet-questions
    matchers: ["label=praise"]
    notify: []
    actions: [{kind: queue, sla: 60m}]
"""
OPENED = [
    "notify:community:1",
    "notify:leads:1",
    *(
        f"queue:{r}:generic:forum:c-1:0"
        for r in (
            "community",
            "leads",
        )
    ),
]
REMINDERS = ["answer-due:community", "answer-due:leads"]


def question(n: int = 1, *, lang: str = "en") -> ClassifiedComment:
    return f.classified(
        f.comment(f"forum:c-{n}"),
        f.classification(Label.QUESTION, severity=Severity.LOW, lang=lang),
    )


TIMELINES: dict[str, Timeline] = {
    "the deadline passes: one reminder per receiver": [
        (0, "question", sorted(OPENED)),
        (59.9, "tick", []),
        (60, "tick", REMINDERS),
        (61, "tick", []),
        (600, "tick", []),
    ],
    "resolved before the deadline: nothing": [
        (0, "question", sorted(OPENED)),
        (30, "resolve", ["resolve:community", "resolve:leads"]),
        (60, "tick", []),
        (600, "tick", []),
    ],
    "acknowledged is not answered: still reminded": [
        (0, "question", sorted(OPENED)),
        (30, "acknowledge", ["acknowledge:community", "acknowledge:leads"]),
        (60, "tick", REMINDERS),
        (600, "tick", []),
    ],
    "a redelivered question is not reminded twice": [
        (0, "question", sorted(OPENED)),
        (60, "tick", REMINDERS),
        (61, "question", []),
        (62, "tick", []),
        (600, "tick", []),
    ],
    "resolved after the reminder: no second one": [
        (0, "question", sorted(OPENED)),
        (60, "tick", REMINDERS),
        (70, "resolve", ["resolve:community", "resolve:leads"]),
        (600, "tick", []),
    ],
}


async def play(router: Router, bus: MemoryBus, clock: MovingClock, timeline: Timeline) -> None:
    async def on(what: str, now: datetime) -> bool:
        if what == "question":
            await route(router, question())
        return what == "question"

    await play_timeline(router, bus, clock, timeline, on)


@pytest.mark.parametrize("timeline", TIMELINES.values(), ids=TIMELINES.keys())
async def test_answer_due_reminders(
    runtime: Runtime, bus: MemoryBus, clock: MovingClock, timeline: Timeline
) -> None:
    router = await prepared_router(runtime, policy_with(POLICY))

    await play(router, bus, clock, timeline)

    ids = [a.action_id for a in published_actions(bus)]
    assert len(ids) == len(set(ids))


async def test_a_second_replica_sends_no_second_reminder(
    runtime: Runtime, bus: MemoryBus, clock: MovingClock
) -> None:
    policy = policy_with(POLICY)
    first, second = await prepared_router(runtime, policy), await prepared_router(runtime, policy)
    await route(first, question())
    clock.at(60)

    await first.timers.tick()
    await second.timers.tick()

    reminders = [a for a in published_actions(bus) if ":answer-due:" in a.action_id]
    assert sorted(a.receiver.name for a in reminders) == ["community", "leads"]


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("fr", "Réponse attendue depuis le 2026-11-21 13:00 UTC"),
        ("en", "Answer due since 2026-11-21 13:00 UTC"),
        ("de", "Answer due since 2026-11-21 13:00 UTC"),
    ],
    ids=["french", "english", "unknown-language-falls-back-to-english"],
)
async def test_the_reminder_says_since_when_in_the_case_language(
    runtime: Runtime, bus: MemoryBus, clock: MovingClock, lang: str, message: str
) -> None:
    router = await prepared_router(runtime, policy_with(POLICY))
    await route(router, question(lang=lang))
    clock.at(90)

    await router.timers.tick()

    reminders = [a for a in published_actions(bus) if ":answer-due:" in a.action_id]
    assert {(a.message, a.comment.comment_id) for a in reminders} == {(message, "forum:c-1")}
    assert {a.lang for a in reminders} == {"fr" if lang == "fr" else "en"}


async def test_a_case_that_pages_nobody_gets_the_reminder_on_its_timeline_only(
    runtime: Runtime, bus: MemoryBus, clock: MovingClock
) -> None:
    router = await prepared_router(runtime, policy_with(POLICY))
    praise = f.classified(f.comment("forum:c-9"), f.classification(Label.PRAISE))
    await route(router, praise)
    clock.at(60)

    await router.timers.tick()
    await router.timers.tick()

    assert [a for a in published_actions(bus) if ":answer-due:" in a.action_id] == []
    async with runtime.engine.connect() as conn:
        reasons = (
            (
                await conn.execute(
                    select(audit_log.c.reason).where(audit_log.c.action == "case.answer_overdue")
                )
            )
            .scalars()
            .all()
        )
    assert reasons == [
        "answer due since 2026-11-21T13:00:00.123456+00:00: reminded nobody (the case pages nobody)"
    ]


def test_answer_due_text_is_in_utc_whatever_the_zone_given() -> None:
    due = (f.NOW + timedelta(hours=1)).astimezone(ZoneInfo("Europe/Paris"))
    assert answer_due_text(due, "en") == ("Answer due since 2026-11-21 13:00 UTC", "en")
