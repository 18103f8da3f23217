"""Held e-mail pages on SQLite: decided once, sent in one digest when their window ends,
never twice, whatever the process dies after."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier import held_mail, store
from services.notifier.attempt import Attempt
from services.notifier.delivery import Deliverer, Job
from services.notifier.digest_flush import DigestFlusher
from services.notifier.limits import Limits
from services.notifier.metrics import NotifierMetrics
from services.notifier.storm import decide, digest_key
from shared.bus import Message, Record
from shared.bus.memory import MemoryBus
from shared.events import Action, Channel, Receiver, Severity
from shared.stage import Decoded
from shared.storage.tables import email_digests
from tests.unit import factories as f

MINUTE = timedelta(minutes=1)
SOURCE = "vigie.actions.v1"
RESULTS = "results"


class Mailer:
    """The e-mail channel as the flush sees it: records each job, answers as told."""

    def __init__(self, answer: Attempt | None = None) -> None:
        self.answer = answer or Attempt(ok=True, status=250, reference="<m@x>")
        self.sent: list[Job] = []

    def idempotent(self, action: Action) -> bool:
        return False

    def key(self, action: Action) -> str:
        return action.receiver.name

    async def send(self, job: Job, now: datetime) -> Attempt:
        self.sent.append(job)
        return self.answer


class BrokenBus(MemoryBus):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def publish(self, messages: Sequence[Message], **_: object) -> None:
        raise self.error


def page(n: int, *, severity: Severity = Severity.HIGH) -> Action:
    return f.action(severity=severity).model_copy(
        update={
            "action_id": f"page-{n}",
            "route": "abuse",
            "receiver": Receiver(name="ops", channel=Channel.EMAIL, target="ops@example.org"),
        }
    )


def decoded(actions: list[Action]) -> list[Decoded[Action]]:
    return [
        Decoded(Record(SOURCE, 0, n, None, a.model_dump_json().encode()), a)
        for n, a in enumerate(actions)
    ]


def emit(item: Decoded[Action], outcome: store.Finished) -> list[Message]:
    value = f"{outcome.status}|{outcome.reference}|{item.record.offset}".encode()
    return [Message(topic=RESULTS, value=value, key=item.event.action_id.encode())]


async def hold(engine: AsyncEngine, actions: list[Action], now: datetime) -> set[str]:
    return await held_mail.hold(
        engine,
        decoded(actions),
        lambda pages, storms: decide(pages, storms, now=now, threshold=2, window=MINUTE),
        now,
        lookback=MINUTE,
        lock=asyncio.Lock(),
    )


def flusher(engine: AsyncEngine, mailer: Mailer, bus: MemoryBus) -> DigestFlusher:
    metrics = NotifierMetrics(CollectorRegistry())
    deliverer = Deliverer(
        attempts=1,
        backoff_base_s=0.0,
        max_wait_s=0.0,
        limits=Limits(1000.0, 1000.0, 5, cooldown_s=30.0),
        clock=lambda: f.NOW,
        sleep=asyncio.sleep,
        metrics=metrics,
        rng=random.Random(1),
    )
    return DigestFlusher(
        engine,
        bus,
        deliverer=deliverer,
        sender=mailer,
        emit=emit,
        source=SOURCE,
        clock=lambda: f.NOW,
        metrics=metrics,
        lock=asyncio.Lock(),
        lease=timedelta(minutes=5),
    )


async def published(bus: MemoryBus) -> dict[str, str]:
    consumer = await bus.consumer([RESULTS], group="test")
    records = await consumer.poll(max_records=100, timeout_s=0)
    return {(r.key or b"").decode(): r.value.decode() for r in records}


async def test_pages_past_the_threshold_wait_for_one_digest_at_the_window_end(
    engine: AsyncEngine,
) -> None:
    first = await hold(engine, [page(1)], f.NOW)
    second = await hold(engine, [page(2), page(3)], f.NOW + timedelta(seconds=10))
    third = await hold(engine, [page(4)], f.NOW + timedelta(seconds=20))
    again = await hold(engine, [page(3), page(2)], f.NOW + timedelta(seconds=30))  # redelivered
    bus, mailer = MemoryBus(), Mailer()
    digests = flusher(engine, mailer, bus)

    early = await digests.tick(f.NOW + timedelta(seconds=69))
    flushed = await digests.tick(f.NOW + timedelta(seconds=70))
    after = await digests.tick(f.NOW + timedelta(minutes=30))

    assert (first, second, third, again) == (set(), {"page-3"}, {"page-4"}, {"page-3"})
    assert (early, flushed, after) == (0, 2, 0)
    key = digest_key("ops", f.NOW + timedelta(seconds=10))
    (job,) = mailer.sent
    assert (job.digest, [a.action_id for a in job.actions]) == (key, ["page-3", "page-4"])
    assert await published(bus) == {"page-3": f"delivered|{key}|1", "page-4": f"delivered|{key}|0"}
    claims = await store.claim(engine, [page(3), page(4)], f.NOW)
    assert {k: (r.status, r.reference) for k, r in claims.items() if r} == {
        "page-3": (store.DELIVERED, key),
        "page-4": (store.DELIVERED, key),
    }
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(email_digests.c.action_id, email_digests.c.sent_at))
        ).all()
    assert {r.action_id: r.sent_at is not None for r in rows} == {
        "page-1": False,
        "page-2": False,
        "page-3": True,
        "page-4": True,
    }


async def test_a_digest_claimed_before_a_crash_is_never_sent_again(engine: AsyncEngine) -> None:
    await hold(engine, [page(1), page(2), page(3)], f.NOW)
    key = digest_key("ops", f.NOW)
    # A previous process claimed the digest in the ledger, maybe sent it, and died.
    await store.claim(engine, [page(3).model_copy(update={"action_id": key})], f.NOW)
    bus, mailer = MemoryBus(), Mailer()

    await flusher(engine, mailer, bus).tick(f.NOW + MINUTE)

    assert mailer.sent == []
    assert (await published(bus))["page-3"] == "in_doubt|None|2"


@pytest.mark.parametrize(
    ("error", "within_lease"),
    [
        (OSError("broker unreachable"), 1),  # an outage: the window is given back at once
        (RuntimeError("the process dies"), 0),  # anything else: its lease must run out
    ],
)
async def test_a_digest_sent_before_its_rows_were_marked_is_published_again_not_resent(
    engine: AsyncEngine, error: Exception, within_lease: int
) -> None:
    await hold(engine, [page(1), page(2), page(3)], f.NOW)
    mailer = Mailer()
    crashing = flusher(engine, mailer, BrokenBus(error))
    with contextlib.suppress(RuntimeError):  # sent and recorded, then nothing published
        await crashing.tick(f.NOW + MINUTE)
    bus = MemoryBus()
    resumed = flusher(engine, mailer, bus)

    early = await resumed.tick(f.NOW + MINUTE * 2)
    late = await resumed.tick(f.NOW + MINUTE * 7)

    assert (early, late) == (within_lease, 1 - within_lease)
    assert len(mailer.sent) == 1
    assert (await published(bus))["page-3"] == f"delivered|{digest_key('ops', f.NOW)}|2"


async def test_a_failed_digest_fails_each_of_its_pages(engine: AsyncEngine) -> None:
    await hold(engine, [page(1), page(2), page(3), page(4)], f.NOW)
    bus = MemoryBus()
    refused = Mailer(Attempt(ok=False, status=550, error="SMTP 550", recoverable=False))

    await flusher(engine, refused, bus).tick(f.NOW + MINUTE)

    key = digest_key("ops", f.NOW)
    assert await published(bus) == {"page-3": f"failed|{key}|2", "page-4": f"failed|{key}|3"}
