"""E-mail storms across polls on the real broker, PostgreSQL and an SMTP peer (STARTTLS).

The component's clock is injected: a test moves it past a digest window's end and waits
for the digest's results on the topic, never for a duration.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.settings import NotifierSettings
from services.notifier.storm import digest_key
from shared.bus import Record
from shared.bus.kafka import KafkaBus
from shared.codec import to_message
from shared.events import Action, Channel, DeliveryOutcome, Receiver, Severity
from shared.runtime import Runtime, utc_now
from shared.stage import Decoded
from shared.storage.engine import create_engine
from shared.storage.tables import email_digests
from tests import provider_peers as peers
from tests.integration.test_notifier_channels import action, isolated, results, settings_for

pytestmark = pytest.mark.integration

SECRET = "words a sensitive comment must never carry into a mail"


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def bus(kafka_bootstrap: str) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_bootstrap, client_id="vigie-test-digests", partitions=3)
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[peers.Mailbox, Path]]:
    with peers.smtp_peer(tmp_path) as running:
        yield running


def storm_settings(mailbox: peers.Mailbox, ca: Path, *, threshold: int) -> NotifierSettings:
    with peers.provider_peer() as unused:  # no page here goes to an HTTP provider
        settings = settings_for(unused, mailbox.port, ca)
    return settings.model_copy(
        update={
            "email_digest_threshold": threshold,
            "email_digest_window_s": 60.0,
            "email_digest_poll_s": 0.2,
            "notifier_allow_comment_text": True,
        }
    )


def page(run: str, n: int, receiver: Receiver, *, critical: bool = False) -> Action:
    return action(run, n, receiver).model_copy(
        update={
            "severity": Severity.CRITICAL if critical else Severity.HIGH,
            "comment_text": SECRET,
        }
    )


async def held(engine: AsyncEngine, receiver: str, want: int) -> None:
    """Wait until ``want`` pages of ``receiver`` are held (the stage processed them)."""
    query = select(func.count()).where(email_digests.c.receiver == receiver, email_digests.c.held)
    for _ in range(150):
        async with engine.connect() as conn:
            if (await conn.execute(query)).scalar_one() >= want:
                return
        await asyncio.sleep(0.1)
    pytest.fail(f"{want} pages were never held")


def text_of(mail: Message) -> str:
    plain = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    payload = plain.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def test_a_storm_over_several_polls_becomes_one_digest_at_the_window_end(
    kafka_bootstrap: str,
    engine: AsyncEngine,
    bus: KafkaBus,
    smtp: tuple[peers.Mailbox, Path],
) -> None:
    run = uuid.uuid4().hex[:8]
    mailbox, ca = smtp
    ops = Receiver(name=f"ops-{run}", channel=Channel.EMAIL, target="ops@example.org")
    clock = Clock()
    component = isolated(run)(storm_settings(mailbox, ca, threshold=3))
    topic = component.outputs[0]
    await bus.ensure_topics([component.source])
    await component.start(
        Runtime(bus=bus, engine=engine, registry=CollectorRegistry(), clock=clock)
    )

    async def publish(*actions: Action) -> None:
        await bus.publish([to_message(component.source, a, key=str(a.case_id)) for a in actions])

    try:
        await publish(page(run, 1, ops), page(run, 2, ops))
        await results(kafka_bootstrap, topic, 2)
        clock.now += timedelta(seconds=5)
        await publish(page(run, 3, ops))  # reaches the threshold
        await results(kafka_bootstrap, topic, 3)
        opened = clock.now  # the next page opens the window
        await publish(page(run, 4, ops))
        await held(engine, ops.name, 1)
        clock.now += timedelta(seconds=5)
        await publish(page(run, 5, ops, critical=True))  # during the storm, sent at once
        before = await results(kafka_bootstrap, topic, 4)
        sent_at_once = len(mailbox.messages)
        clock.now += timedelta(seconds=5)
        await publish(page(run, 6, ops), page(run, 7, ops))
        await held(engine, ops.name, 3)
        assert len(mailbox.messages) == sent_at_once
        clock.now = opened + timedelta(seconds=61)
        after = await results(kafka_bootstrap, topic, 7)
    finally:
        await component.stop()

    ids = {n: page(run, n, ops).action_id for n in range(1, 8)}
    assert set(before) == {ids[1], ids[2], ids[3], ids[5]}
    assert {r.outcome for r in after.values()} == {DeliveryOutcome.DELIVERED}
    key = digest_key(ops.name, opened)
    assert {n for n, i in ids.items() if after[i].reference == key} == {4, 6, 7}
    assert sent_at_once == 4 and len(mailbox.messages) == 5
    _, digest = mailbox.messages[-1]
    assert digest["Subject"] == "Vigie: 3 new cases (high)"  # in the oldest case's language
    body = text_of(digest)
    assert [f"/api/v1/cases/{page(run, n, ops).case_id}" in body for n in (4, 6, 7)] == [True] * 3
    assert f"{page(run, 3, ops).case_id}" not in body
    assert all(SECRET not in text_of(mail) for _, mail in mailbox.messages)


async def test_a_notifier_restarted_between_holding_and_flushing_sends_the_digest_once(
    kafka_bootstrap: str,
    engine: AsyncEngine,
    bus: KafkaBus,
    smtp: tuple[peers.Mailbox, Path],
) -> None:
    run = uuid.uuid4().hex[:8]
    mailbox, ca = smtp
    ops = Receiver(name=f"ops-{run}", channel=Channel.EMAIL, target="ops@example.org")
    settings = storm_settings(mailbox, ca, threshold=2)
    actions = [page(run, n, ops) for n in range(1, 5)]
    clock = Clock()
    first = isolated(run)(settings)
    await first.prepare(Runtime(bus=bus, engine=engine, registry=CollectorRegistry(), clock=clock))
    records = [
        Decoded(Record(first.source, 0, n, None, a.model_dump_json().encode()), a)
        for n, a in enumerate(actions)
    ]
    # The first process sends two pages (in one message: a digest within the batch, as ever),
    # holds two, then dies before its offsets are committed.
    await first.process(records)
    await first.close()
    assert len(mailbox.messages) == 1

    second = isolated(run)(settings)
    await bus.ensure_topics([second.source])
    await bus.publish([to_message(second.source, a, key=str(a.case_id)) for a in actions])
    await second.start(Runtime(bus=bus, engine=engine, registry=CollectorRegistry(), clock=clock))
    try:
        redelivered = await results(kafka_bootstrap, second.outputs[0], 2)
        clock.now += timedelta(seconds=61)
        out = await results(kafka_bootstrap, second.outputs[0], 4)
    finally:
        await second.stop()

    key = digest_key(ops.name, clock.now - timedelta(seconds=61))
    assert set(redelivered) == {actions[0].action_id, actions[1].action_id}
    assert [out[a.action_id].reference for a in actions[2:]] == [key, key]
    assert {r.outcome for r in out.values()} == {DeliveryOutcome.DELIVERED}
    assert len(mailbox.messages) == 2
    async with engine.connect() as conn:
        pending = select(func.count()).where(
            email_digests.c.receiver == ops.name,
            email_digests.c.held,
            email_digests.c.sent_at.is_(None),
        )
        assert (await conn.execute(pending)).scalar_one() == 0
