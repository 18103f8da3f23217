"""The delivery loop: retries, Retry-After, permanent errors, breaker, rate limit, digests."""

from __future__ import annotations

import random
from datetime import datetime

import pytest
from prometheus_client import CollectorRegistry

from services.notifier.attempt import Attempt
from services.notifier.delivery import Deliverer, Job, Report, plan
from services.notifier.limits import Limits
from services.notifier.metrics import NotifierMetrics
from shared.events import Action, ActionKind, Channel, Receiver
from tests.unit import factories as f


class ScriptedSender:
    def __init__(self, *answers: Attempt) -> None:
        self.answers = list(answers)
        self.sent: list[Job] = []

    def idempotent(self, action: Action) -> bool:
        return False

    def key(self, action: Action) -> str:
        return action.receiver.name

    async def send(self, job: Job, now: datetime) -> Attempt:
        self.sent.append(job)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds


def deliverer(clock: Clock, *, rate: float = 1000.0, failures: int = 3) -> Deliverer:
    return Deliverer(
        attempts=4,
        backoff_base_s=0.0,
        max_wait_s=60.0,
        limits=Limits(rate, 1000.0 if rate > 100 else 1.0, failures, cooldown_s=30.0),
        clock=lambda: f.NOW,
        sleep=clock.sleep,
        metrics=NotifierMetrics(CollectorRegistry()),
        monotonic=lambda: clock.t,
        rng=random.Random(1),
    )


OK = Attempt(ok=True, status=200)
BUSY = Attempt(ok=False, status=503, error="HTTP 503", recoverable=True)


@pytest.mark.parametrize(
    ("answers", "report", "waits"),
    [
        ([OK], Report(True, 1, 200, None), []),
        ([BUSY, OK], Report(True, 2, 200, None), [0.0]),
        ([BUSY], Report(False, 4, 503, "HTTP 503"), [0.0, 0.0, 0.0]),
        ([Attempt(False, 404, "HTTP 404")], Report(False, 1, 404, "HTTP 404"), []),
        ([Attempt(False, 429, "HTTP 429", True, 7.0), OK], Report(True, 2, 200, None), [7.0]),
        ([Attempt(False, 429, "HTTP 429", True, 3600.0), OK], Report(True, 2, 200, None), [60.0]),
    ],
    ids=["ok", "retried", "exhausted", "permanent", "retry-after", "retry-after-capped"],
)
async def test_retries(answers: list[Attempt], report: Report, waits: list[float]) -> None:
    clock = Clock()
    sender = ScriptedSender(*answers)

    got = await deliverer(clock).deliver(sender, Job((f.action(),)))

    assert got == report
    assert clock.waits == waits
    assert len(sender.sent) == report.attempts


async def test_a_receiver_that_keeps_failing_is_cut_off_then_tried_again() -> None:
    clock = Clock()
    d = deliverer(clock, failures=2)
    broken = ScriptedSender(Attempt(False, 404, "HTTP 404"))
    job = Job((f.action(),))

    await d.deliver(broken, job)
    await d.deliver(broken, job)
    refused = await d.deliver(broken, job)

    assert refused.attempts == 0 and refused.error and "circuit open" in refused.error
    assert len(broken.sent) == 2
    clock.t += 31.0  # the cooldown passes: one trial send
    healed = ScriptedSender(OK)
    assert (await d.deliver(healed, job)).delivered
    assert (await d.deliver(healed, job)).delivered


async def test_the_rate_limit_spaces_sends_to_one_receiver() -> None:
    clock = Clock()
    d = deliverer(clock, rate=2.0)
    sender = ScriptedSender(OK)

    for _ in range(3):
        await d.deliver(sender, Job((f.action(),)))

    assert clock.waits == [0.5, 0.5]


def email_action(n: int, receiver: str = "mods") -> Action:
    a = f.action()
    return a.model_copy(
        update={
            "action_id": f"{a.action_id}:{n}",
            "receiver": Receiver(name=receiver, channel=Channel.EMAIL, target="m@example.org"),
        }
    )


def test_a_storm_of_emails_to_one_receiver_becomes_one_digest() -> None:
    storm = [email_action(n) for n in range(5)]
    other = [email_action(9, "leads"), f.action()]

    jobs = plan(storm + other, digest_threshold=5)

    assert sorted(len(j.actions) for j in jobs) == [1, 1, 5]
    assert plan(storm[:4], digest_threshold=5) == [Job((a,)) for a in storm[:4]]
    assert len(plan(storm, digest_threshold=0)) == 5


def test_only_notifications_are_digested() -> None:
    resolved = [
        e.model_copy(update={"kind": ActionKind.RESOLVE}) for e in map(email_action, range(6))
    ]

    assert len(plan(resolved, digest_threshold=2)) == 6
