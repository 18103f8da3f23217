"""Escalation chains on the real broker and PostgreSQL: a router process killed mid-chain,
and two replicas ticking at once, still fire each step once.

Each test has a database of its own, so that no other router's timers are in it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.router.component import RouterComponent
from services.router.policy.config import load_policy
from services.router.settings import RouterSettings
from shared.bus import Record
from shared.bus.kafka import KafkaBus
from shared.codec import to_message
from shared.events import (
    Action,
    ClassifiedComment,
    derive_id,
)
from shared.runtime import Runtime, utc_now
from shared.stage import Decoded
from shared.storage.engine import create_engine
from shared.topics import ACTION_TOPICS, COMMENTS_CLASSIFIED
from tests.databases import asyncpg_dsn, create_database, drop_database
from tests.e2e.test_pipeline import skip_backlog
from tests.unit import factories as f
from vigie.stack import ServiceProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STEP_S = 4  # each step waits this long before the next
POLICY = {
    "version": "chains-it",
    "receivers": [
        {"name": f"tier-{n}", "channel": "webhook", "url": f"http://127.0.0.1:9/tier-{n}"}
        for n in (1, 2, 3)
    ],
    "chains": [
        {
            "name": "ladder",
            "steps": [{"notify": [f"tier-{n}"], "wait": f"{STEP_S}s"} for n in (1, 2, 3)],
            "then": "stop",
        }
    ],
    "routes": [
        {
            "name": "crisis",
            "matchers": ["label=sensitive"],
            "severity": "critical",
            "chain": "ladder",
            "group_by": ["platform", "author_id"],
        }
    ],
}


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    server = os.environ["VIGIE_DATABASE_URL"]
    url = await create_database(server, prefix="vigie_router_it")
    yield url
    await drop_database(server, url)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(POLICY))
    return path


def crisis_comment(run: str) -> ClassifiedComment:
    item = f.comment(
        f"chain-it-{run}", text="-", source="it", author_id=f"author-{run}", at=utc_now()
    )
    return f.sensitive(item)


def case_of(item: ClassifiedComment) -> str:
    return str(derive_id("case", f"crisis:{item.comment.ref.key}"))


class ActionsTail:
    """The actions published from now on, read straight from both action topics."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.seen: list[Action] = []

    async def __aenter__(self) -> ActionsTail:
        bus = KafkaBus(self._bootstrap, client_id="vigie-test-actions-tail")
        await bus.start()
        try:
            await bus.ensure_topics(ACTION_TOPICS)
        finally:
            await bus.stop()
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        assigned = [
            TopicPartition(topic, p)
            for topic in ACTION_TOPICS
            for p in self._consumer.partitions_for_topic(topic) or set()
        ]
        self._consumer.assign(assigned)
        for tp, offset in (await self._consumer.end_offsets(assigned)).items():
            self._consumer.seek(tp, offset)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def until(self, case_ids: set[str], want: set[str], timeout_s: float = 90) -> None:
        """Read until every action id in ``want`` has been seen for these cases."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not want <= {a.action_id for a in self.seen}:
            if asyncio.get_running_loop().time() > deadline:
                got = sorted(a.action_id for a in self.seen)
                raise AssertionError(f"not published within {timeout_s}s: {want}; got {got}")
            await self._read(case_ids)

    async def _read(self, case_ids: set[str]) -> None:
        batches = await self._consumer.getmany(timeout_ms=300)
        for records in batches.values():
            for record in records:
                action = Action.model_validate_json(record.value)
                if str(action.case_id) in case_ids:
                    self.seen.append(action)

    async def catch_up(self, case_ids: set[str]) -> None:
        """Read everything published so far (up to the end offsets of now)."""
        assigned = list(self._consumer.assignment())
        end = await self._consumer.end_offsets(assigned)
        while any([await self._consumer.position(tp) < end[tp] for tp in assigned]):
            await self._read(case_ids)

    def counts(self) -> Counter[str]:
        return Counter(a.action_id for a in self.seen)


async def chain_over(dsn: str, case_id: str, steps: int, timeout_s: float = 90) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        conn = await asyncpg.connect(dsn)
        try:
            row = await conn.fetchrow(
                "SELECT notified, due_at FROM case_timers WHERE id = $1", f"chain:{case_id}"
            )
            pending = await conn.fetchval(
                "SELECT count(*) FROM router_outbox WHERE published_at IS NULL"
            )
        finally:
            await conn.close()
        if row is not None and row["notified"] == steps and row["due_at"] is None and not pending:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the chain of {case_id} did not finish within {timeout_s}s")


@pytest.fixture
async def router_groups(kafka_bootstrap: str) -> str:
    """A group prefix of this test's own, its groups at the end of their topics: what other
    runs left on this shared broker is not the test's, and could take longer to read than
    the test waits."""
    prefix = f"it-chains-{uuid.uuid4().hex[:8]}-"
    await skip_backlog(kafka_bootstrap, prefix)
    return prefix


@pytest.fixture
def router_process(
    own_database: str,
    policy_file: Path,
    kafka_bootstrap: str,
    tmp_path: Path,
    router_groups: str,
) -> Iterator[ServiceProcess]:
    env = {
        "VIGIE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "VIGIE_DATABASE_URL": own_database,
        "VIGIE_POLICY_FILE": str(policy_file),
        "VIGIE_TIMER_POLL_S": "0.2",
        "VIGIE_ACK_TOKEN_SECRET": "it-" + uuid.uuid4().hex,
        "VIGIE_KAFKA_GROUP_PREFIX": router_groups,
    }
    process = ServiceProcess("router", 18282, env, tmp_path / "router.log")
    try:
        yield process
    finally:
        process.stop()


def page(case_id: str, receiver: str, number: int) -> str:
    return f"{case_id}:notify:{receiver}:{number}"


async def test_a_router_killed_mid_chain_fires_the_next_step_once_after_a_restart(
    router_process: ServiceProcess, kafka_bootstrap: str, own_database: str
) -> None:
    item = crisis_comment(uuid.uuid4().hex[:10])
    case_id = case_of(item)
    bus = KafkaBus(kafka_bootstrap, client_id="vigie-test-router-chains")
    await bus.start()
    await asyncio.to_thread(router_process.start)
    await asyncio.to_thread(router_process.wait_ready, 120)
    try:
        async with ActionsTail(kafka_bootstrap) as tail:
            await bus.publish(
                [to_message(COMMENTS_CLASSIFIED, item, key=item.comment.partition_key)]
            )
            await tail.until({case_id}, {page(case_id, "tier-1", 1)})
            # Mid-chain: step 1 sent, step 2 due STEP_S seconds after the case opened.
            await asyncio.to_thread(router_process.kill)
            await asyncio.to_thread(router_process.start)
            await asyncio.to_thread(router_process.wait_ready, 120)
            await tail.until({case_id}, {page(case_id, "tier-2", 2), page(case_id, "tier-3", 3)})
            await chain_over(asyncpg_dsn(own_database), case_id, steps=3)
            await tail.catch_up({case_id})
    finally:
        await bus.stop()

    counts = tail.counts()
    assert set(counts) == {page(case_id, f"tier-{n}", n) for n in (1, 2, 3)}
    assert counts[page(case_id, "tier-2", 2)] == 1
    assert counts[page(case_id, "tier-3", 3)] == 1


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()


async def test_two_replicas_ticking_at_once_fire_each_step_once(
    own_database: str, policy_file: Path, kafka_bootstrap: str
) -> None:
    policy = load_policy(policy_file)
    clock = Clock()
    start = clock.now
    replicas: list[tuple[RouterComponent, Runtime]] = []
    for n in (1, 2):
        bus = KafkaBus(kafka_bootstrap, client_id=f"vigie-test-router-{n}")
        await bus.start()
        runtime = Runtime(bus=bus, engine=create_engine(own_database), clock=lambda: clock.now)
        component = RouterComponent(RouterSettings(), policy=policy)
        await component.prepare(runtime)
        replicas.append((component, runtime))
    items = [crisis_comment(f"{uuid.uuid4().hex[:8]}-{i}") for i in range(20)]
    case_ids = {case_of(item) for item in items}
    record = Record(topic=COMMENTS_CLASSIFIED, partition=0, offset=0, key=None, value=b"")
    try:
        async with ActionsTail(kafka_bootstrap) as tail:
            first, _ = replicas[0]
            await first.process([Decoded(record, item) for item in items])
            for n in (2, 3):
                clock.now = start + timedelta(seconds=STEP_S * (n - 1))
                await asyncio.gather(*(c.timers.tick() for c, _ in replicas if c.timers))
            want = {page(c, f"tier-{n}", n) for c in case_ids for n in (1, 2, 3)}
            await tail.until(case_ids, want)
            await tail.catch_up(case_ids)
    finally:
        for _, runtime in replicas:
            await runtime.close()

    counts = tail.counts()
    assert set(counts) == want
    assert set(counts.values()) == {1}, "a step was published twice"
    conn = await asyncpg.connect(asyncpg_dsn(own_database))
    try:
        recorded = await conn.fetchval(
            "SELECT count(*) FROM case_actions WHERE kind = 'notify' AND status = 'emitted'"
        )
        unpublished = await conn.fetchval(
            "SELECT count(*) FROM router_outbox WHERE published_at IS NULL"
        )
    finally:
        await conn.close()
    assert (recorded, unpublished) == (60, 0)
