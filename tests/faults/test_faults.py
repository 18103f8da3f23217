"""Faults while signed webhooks stream in: nothing lost, nothing doubled, nothing stuck.

Each scenario sends its own stream (three platforms, a known set of crisis comments), does
its harm a third of the way in, lets the stream finish, then reconciles: every accepted
comment stored and classified exactly once, every crisis comment in exactly one case, each
case paged exactly once, every consumer group caught up, the outbox empty.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.topics import (
    ACTIONS,
    ACTIONS_CRITICAL,
    CLASSIFIED_PRIORITY,
    COMMENTS_CLASSIFIED,
    COMMENTS_NORMALIZED,
    COMMENTS_PRIORITY,
    dlq,
)
from tests.faults.conftest import TALLIES, Rig
from tests.faults.reconcile import settle
from tests.faults.traffic import Sender, stream

pytestmark = pytest.mark.faults

COMMENTS = 120
RATE_PER_S = 20.0
FULL = os.environ.get("VIGIE_FAULTS", "") == "all"
# What `make test` runs; `make faults` (VIGIE_FAULTS=all) runs every scenario.
QUICK = {"kill-notifier", "restart-broker", "poison-records"}

Harm = Callable[[Rig], Awaitable[None]]


def kill_and_restart(service: str) -> Harm:
    async def harm(rig: Rig) -> None:
        await asyncio.to_thread(rig.stack[service].kill)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(rig.stack.restart, service, 180.0)

    return harm


async def restart_broker(rig: Rig) -> None:
    await asyncio.to_thread(rig.kafka.stop)
    await asyncio.sleep(2.0)
    await asyncio.to_thread(rig.kafka.start)


async def restart_postgres(rig: Rig) -> None:
    await asyncio.to_thread(rig.postgres.stop, "immediate")
    await asyncio.sleep(3.0)
    await asyncio.to_thread(rig.postgres.start)


async def receiver_outage(rig: Rig) -> None:
    with rig.receiver.lock:
        rig.receiver.status = 503
    await asyncio.sleep(4.0)
    with rig.receiver.lock:
        rig.receiver.status = 200


POISON_TOPICS = (
    COMMENTS_NORMALIZED,
    COMMENTS_PRIORITY,
    COMMENTS_CLASSIFIED,
    CLASSIFIED_PRIORITY,
    ACTIONS,
    ACTIONS_CRITICAL,
)


def poison_values(marker: str) -> dict[str, list[bytes]]:
    return {
        topic: [
            b"\x00\xff not json " + marker.encode(),
            b'{"schema": "' + marker.encode() + b'", "not": "an event"}',
        ]
        for topic in POISON_TOPICS
    }


def inject_poison(marker: str) -> Harm:
    async def harm(rig: Rig) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=rig.kafka.bootstrap, acks="all")
        await producer.start()
        try:
            for topic, values in poison_values(marker).items():
                for value in values:
                    await producer.send_and_wait(topic, value, key=marker.encode())
        finally:
            await producer.stop()

    return harm


async def dead_letters(bootstrap: str, marker: str) -> dict[str, list[dict[str, bytes]]]:
    """Headers of the records in each DLQ whose key is ``marker``, by source topic."""
    consumer = AIOKafkaConsumer(
        *(dlq(t) for t in POISON_TOPICS),
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: dict[str, list[dict[str, bytes]]] = {t: [] for t in POISON_TOPICS}
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                return found
            for records in batch.values():
                for record in records:
                    if record.key == marker.encode():
                        source = record.topic.removesuffix(".dlq")
                        found[source].append(dict(record.headers))
    finally:
        await consumer.stop()


SCENARIOS: dict[str, Callable[[str], Harm | None]] = {
    "no-fault": lambda _: None,
    "kill-ingest": lambda _: kill_and_restart("ingest"),
    "kill-classifier": lambda _: kill_and_restart("classifier"),
    "kill-router": lambda _: kill_and_restart("router"),
    "kill-notifier": lambda _: kill_and_restart("notifier"),
    "restart-broker": lambda _: restart_broker,
    "restart-postgres": lambda _: restart_postgres,
    "receiver-outage": lambda _: receiver_outage,
    "poison-records": inject_poison,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_nothing_lost_nothing_doubled(rig: Rig, scenario: str) -> None:
    if not FULL and scenario not in QUICK:
        pytest.skip("runs with `make faults` (VIGIE_FAULTS=all)")
    marker = f"poison-{uuid.uuid4().hex}"
    harm = SCENARIOS[scenario](marker)
    comments = stream(scenario, COMMENTS)
    sender = Sender(rig.ingest_url, rate_per_s=RATE_PER_S)
    sending = asyncio.create_task(sender.send_all(comments))
    while sender.sent < COMMENTS // 3 and not sending.done():
        await asyncio.sleep(0.05)
    if harm is not None:
        await harm(rig)
    await sending

    tally = await settle(
        scenario,
        comments,
        sender.accepted,
        rig.receiver,
        rig.postgres.dsn,
        rig.kafka.bootstrap,
    )
    TALLIES.append(tally)
    assert not sender.refused, f"webhooks refused: {[s for _, s in sender.refused]}"
    assert not sender.given_up, f"{len(sender.given_up)} webhooks never accepted"
    assert tally.accepted == tally.sent
    assert tally.crisis > 0
    assert tally.lost == 0, tally.problems
    assert tally.duplicates == 0, tally.problems
    # Only a notifier killed between a send and its record may repeat a page, and then under
    # the same idempotency key; any other scenario repeating one is a defect.
    assert tally.resent == 0 or scenario == "kill-notifier", f"{tally.resent} pages resent"
    assert tally.cases == tally.crisis, "each crisis comment opens a case of its own"
    assert tally.pages == tally.cases, "each crisis case is paged once"
    assert tally.behind == 0, f"consumer groups {tally.behind} records behind"
    assert tally.unpublished == 0, "outbox rows never published"

    if scenario == "poison-records":
        letters = await dead_letters(rig.kafka.bootstrap, marker)
        for topic, values in poison_values(marker).items():
            assert len(letters[topic]) == len(values), f"{topic}: {len(letters[topic])} in DLQ"
            for headers in letters[topic]:
                assert headers.get("vigie-dlq-reason"), "a dead letter says why"
                assert headers.get("vigie-dlq-source", b"").startswith(topic.encode())
