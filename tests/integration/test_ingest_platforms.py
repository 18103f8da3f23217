"""Every platform's documented payloads through ingest, on the real broker and PostgreSQL:
signatures, batching, edits, deletes, non-comments, duplicates across restarts, and a
broker that stops answering (503, then exactly one event on retry)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from services.ingest.adapters.registry import ADAPTERS
from services.ingest.dedup import SeenStore
from services.ingest.replay import read_archive, replay
from shared.bus.kafka import KafkaBus, topic_partitions
from shared.bus.memory import MemoryBus
from shared.events import Comment, RawWebhook, SourceChanged
from shared.runtime import Runtime
from shared.storage.engine import create_engine
from shared.topics import COMMENT_TOPICS, COMMENTS_RAW, SOURCE_CHANGES
from tests import ingest_harness as h
from tests.databases import create_database, drop_database
from tests.webhook_fixtures import Fixture, load

pytestmark = pytest.mark.integration

KAFKA_PID_FILE = Path(__file__).resolve().parents[2] / ".local" / "kafka" / "kafka.pid"
FIXTURES = [f for platform in ADAPTERS for f in load(platform)]


def now() -> datetime:
    return datetime.now(UTC)


class Topics:
    """Reads what was published on the pipeline's topics since it was marked.

    A test that pauses the broker calls ``reconnect`` afterwards: a consumer that lived
    through the pause may keep stale fetch state.
    """

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._marks: dict[TopicPartition, int] = {}
        self._partitions: list[TopicPartition] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        found = await topic_partitions(
            self._bootstrap, [COMMENTS_RAW, *COMMENT_TOPICS, SOURCE_CHANGES]
        )
        self._partitions = [TopicPartition(t, p) for t, parts in found.items() for p in parts]
        await self.reconnect()

    async def reconnect(self) -> None:
        await self.stop()
        # Short fetch waits: the fetcher's long polls would otherwise delay every read.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
        )
        await self._consumer.start()
        self._consumer.assign(self._partitions)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def mark(self) -> None:
        assert self._consumer is not None
        self._marks = await self._consumer.end_offsets(self._partitions)

    async def since_mark(self, topic: str) -> list[bytes]:
        """Records of ``topic`` from the mark to the end as of now: acknowledged is visible."""
        consumer = self._consumer
        assert consumer is not None
        tps = [tp for tp in self._partitions if tp.topic == topic]
        ends = await consumer.end_offsets(tps)
        values: list[bytes] = []
        for tp in tps:
            start = self._marks.get(tp, 0)
            if start >= ends[tp]:
                continue
            consumer.seek(tp, start)
            for _ in range(50):
                if await consumer.position(tp) >= ends[tp]:
                    break
                batch = await consumer.getmany(tp, timeout_ms=500)
                values += [
                    m.value
                    for m in batch.get(tp, [])
                    if m.offset < ends[tp] and m.value is not None
                ]
            else:
                raise AssertionError(f"{tp} was not read up to {ends[tp]}")
        return values

    async def comments(self) -> list[Comment]:
        return [
            Comment.model_validate_json(v)
            for topic in COMMENT_TOPICS
            for v in await self.since_mark(topic)
        ]

    async def raws(self) -> list[RawWebhook]:
        return [RawWebhook.model_validate_json(v) for v in await self.since_mark(COMMENTS_RAW)]

    async def changes(self) -> list[SourceChanged]:
        values = await self.since_mark(SOURCE_CHANGES)
        return [SourceChanged.model_validate_json(v) for v in values]


@pytest.fixture
async def topics(kafka_bootstrap: str) -> AsyncIterator[Topics]:
    reader = Topics(kafka_bootstrap)
    await reader.start()
    yield reader
    await reader.stop()


@asynccontextmanager
async def ingest(
    kafka_bootstrap: str,
    database_url: str,
    *,
    publish_timeout_s: float = 10.0,
    dedup_cache_size: int = 100_000,
) -> AsyncIterator[h.Served]:
    bus = KafkaBus(
        kafka_bootstrap, client_id="vigie-ingest-test", publish_timeout_s=publish_timeout_s
    )
    await bus.start()
    runtime = Runtime(bus=bus, engine=create_engine(database_url), registry=CollectorRegistry())
    async with h.serve(runtime, h.settings(dedup_cache_size=dedup_cache_size)) as served:
        yield served


@dataclass
class Pair:
    """Two ingest processes on one database: the second stands for a restarted first."""

    first: h.Served
    restarted: h.Served


@pytest.fixture(scope="module")
async def pair(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Pair]:
    """Without an in-memory cache, every decision comes from the database."""
    async with (
        ingest(kafka_bootstrap, database_url, dedup_cache_size=0) as first,
        ingest(kafka_bootstrap, database_url, dedup_cache_size=0) as restarted,
    ):
        yield Pair(first, restarted)


@pytest.fixture
async def nothing_seen(pair: Pair, asyncpg_dsn: str) -> None:
    """Fixtures adapted from one example share ids: each test starts with nothing seen."""
    await pair.first.component.flush()
    await pair.restarted.component.flush()
    conn = await asyncpg.connect(asyncpg_dsn)
    try:
        await conn.execute("TRUNCATE ingest_seen")
    finally:
        await conn.close()


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.id)
async def test_a_documented_payload_is_published_once_even_when_delivered_again(
    fixture: Fixture, pair: Pair, topics: Topics, nothing_seen: None
) -> None:
    await topics.mark()
    first = await pair.first.post(fixture, now())
    assert 200 <= first.status_code < 300, first.text
    published = await topics.comments()
    expected = fixture.expect.get("comments", [])
    expected_changes = fixture.expect.get("changes", [])
    assert sorted(c.comment_id for c in published) == sorted(e["comment_id"] for e in expected)
    assert len(await topics.changes()) == len(expected_changes)
    (raw,) = await topics.raws()
    assert raw.platform == fixture.platform
    if "reply" in fixture.expect:
        assert first.text == fixture.expect["reply"]["body"]

    # The restarted process has an empty cache: it recognises the redelivery from PostgreSQL.
    await pair.first.component.flush()
    await topics.mark()
    again = await pair.restarted.post(fixture, now())
    assert 200 <= again.status_code < 300, again.text
    assert await topics.comments() == []
    assert await topics.changes() == []
    if expected or expected_changes:
        assert again.json()["status"] == "duplicate"
        assert again.json()["duplicates"] == len(expected) + len(expected_changes)


@pytest.mark.parametrize("platform", list(ADAPTERS))
@pytest.mark.parametrize("forgery", ["bad", "missing", "unknown-secret"])
async def test_a_forged_delivery_is_refused_and_publishes_nothing(
    platform: str, forgery: str, pair: Pair, topics: Topics
) -> None:
    fixture = load(platform)[0]
    await topics.mark()
    headers = h.signed_headers(fixture, now())
    forged: dict[str, str]
    if forgery == "bad":
        forged = h.signed_headers(fixture, now(), secret="attacker")
    elif forgery == "unknown-secret":
        forged = h.signed_headers(fixture, now(), secret=h.OLD_SECRET + "-retired")
    else:
        forged = {"content-type": fixture.content_type, **fixture.headers}
    assert forged != headers
    url = h.url_of(fixture, pair.first.path(platform))
    response = await pair.first.client.post(url, content=fixture.body, headers=forged)
    assert response.status_code in (401, 403), response.text
    assert await topics.raws() == []
    assert await topics.comments() == []


@pytest.mark.parametrize("platform", list(ADAPTERS))
async def test_the_retired_half_of_a_rotation_still_verifies(
    platform: str, pair: Pair, topics: Topics, nothing_seen: None
) -> None:
    fixture = load(platform)[-1]
    await topics.mark()
    headers = h.signed_headers(fixture, now(), secret=h.OLD_SECRET)
    url = h.url_of(fixture, pair.first.path(platform))
    response = await pair.first.client.post(url, content=fixture.body, headers=headers)
    assert 200 <= response.status_code < 300, response.text
    assert len(await topics.raws()) == 1


def kafka_pid() -> int:
    if os.environ.get("VIGIE_KAFKA_BOOTSTRAP", "") != "127.0.0.1:19092" or not (
        KAFKA_PID_FILE.exists()
    ):
        pytest.skip("needs the project's local broker (make services-up) to pause it")
    return int(KAFKA_PID_FILE.read_text().strip())


@contextmanager
def broker_paused() -> Iterator[None]:
    pid = kafka_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def first_comment_fixture(platform: str) -> Fixture:
    """The platform's first fixture that yields events (comments, or changes for YouTube)."""
    return next(f for f in load(platform) if f.expect.get("comments") or f.expect.get("changes"))


@pytest.fixture(scope="module")
async def impatient(kafka_bootstrap: str) -> AsyncIterator[h.Served]:
    """Ingest that gives up on the broker after 1.5 s, on a database of its own."""
    server = os.environ["VIGIE_DATABASE_URL"]
    url = await create_database(server, prefix="vigie_test_ingest")
    try:
        async with ingest(kafka_bootstrap, url, publish_timeout_s=1.5) as served:
            yield served
    finally:
        await drop_database(server, url)


@pytest.mark.parametrize("platform", list(ADAPTERS))
async def test_a_broker_that_does_not_answer_gets_503_then_the_retry_lands_exactly_once(
    platform: str, impatient: h.Served, topics: Topics
) -> None:
    fixture = first_comment_fixture(platform)
    expected = len(fixture.expect.get("comments", [])) + len(fixture.expect.get("changes", []))
    served = impatient
    await topics.mark()
    with broker_paused():
        refused = await served.post(fixture, now())
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"]

    # The platform retries; the first attempt's messages were still queued by the
    # producer and are delivered once, not queued a second time.
    for _ in range(20):
        retried = await served.post(fixture, now())
        if retried.status_code != 503:
            break
        await asyncio.sleep(0.5)
    assert 200 <= retried.status_code < 300, retried.text
    published = [*await topics.comments(), *await topics.changes()]
    # One event per comment. When the paused broker had written a request it then reported
    # as timed out, the producer's retry can leave a second copy with the same event id;
    # consumers are idempotent by event id, so the copy never becomes a second case or page.
    assert len({e.event_id for e in published}) == expected
    assert expected <= len(published) <= 2 * expected
    # ... and a third delivery is a duplicate.
    third = await served.post(fixture, now())
    assert third.json()["status"] == "duplicate"
    assert len([*await topics.comments(), *await topics.changes()]) == len(published)


async def test_a_fresh_id_is_published_after_restarts_while_a_redelivery_is_not(
    kafka_bootstrap: str, database_url: str, topics: Topics
) -> None:
    fixture = first_comment_fixture("generic")
    body = fixture.body.replace(b'"c-2"', f'"c-{uuid.uuid4().hex[:8]}"'.encode())
    fresh = Fixture(**{**fixture.__dict__, "body": body})
    async with ingest(kafka_bootstrap, database_url) as served:
        await topics.mark()
        assert (await served.post(fresh, now())).status_code == 202
    async with ingest(kafka_bootstrap, database_url) as served:
        assert (await served.post(fresh, now())).json()["status"] == "duplicate"
    assert len(await topics.comments()) == 1


async def test_replay_renormalises_what_the_archive_holds(
    pair: Pair, kafka_bootstrap: str, database_url: str, nothing_seen: None
) -> None:
    """An archived request replays into the same comment; only the missing one is new."""
    since = now()
    fixture = first_comment_fixture("meta")
    response = await pair.first.post(fixture, now())
    assert response.status_code == 200, response.text
    records = [value for _, value in await read_archive(kafka_bootstrap, since=since)]
    adapters = {a.platform: a for a in pair.first.component.adapters}
    bus = MemoryBus()

    report = await replay(records, adapters=adapters, bus=bus, seen=None, platforms={"meta"})

    replayed = [
        Comment.model_validate_json(r.value) for t in COMMENT_TOPICS for r in bus.records(t)
    ]
    expected = sorted(c["comment_id"] for c in fixture.expect["comments"])
    assert sorted(c.comment_id for c in replayed) == expected
    assert report.published == len(expected)
    assert report.requests >= 1

    # Without --force, what was already published is not published again.
    await pair.first.component.flush()
    engine = create_engine(database_url)
    seen = SeenStore(engine, now)
    try:
        again = await replay(records, adapters=adapters, bus=bus, seen=seen, platforms={"meta"})
    finally:
        await seen.stop()
        await engine.dispose()
    assert (again.published, again.duplicates) == (0, len(expected))
