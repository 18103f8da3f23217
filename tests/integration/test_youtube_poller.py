"""The YouTube poller on the real broker and PostgreSQL, against a local fake Data API.

A change notice goes on ``SOURCE_CHANGES``; the poller tracks the video in PostgreSQL, reads
the fake API's pages over HTTP and publishes each comment to its comment topic once.
Topic names are fixed: each test uses its own video id and reads the comments back with a
consumer group of its own.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import select

from services.ingest.settings import IngestSettings
from services.ingest.youtube_poller import YouTubePoller
from shared.bus.kafka import KafkaBus, topic_partitions
from shared.codec import to_message
from shared.events import Comment, SourceChanged, derive_id
from shared.runtime import Runtime
from shared.storage.engine import create_engine
from shared.storage.tables import youtube_cursors
from shared.topics import COMMENT_TOPICS, SOURCE_CHANGES
from tests.peers import Received, RecordingServer

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures" / "youtube_api"
CHANNEL = "UC_x5XG1OV2P6uZZ5FSM9Ttw"
API_KEY = "integration-test-key"
Route = tuple[str, str | None, str | None]  # resource, videoId or parentId, pageToken


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def retag(data: Any, *, video: str, tag: str) -> Any:
    """The documented response with this test's video id and comment ids of its own, so that
    the de-duplication table shared by the session's tests never mistakes them."""
    if isinstance(data, list):
        return [retag(v, video=video, tag=tag) for v in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("id", "parentId") and isinstance(value, str):
            out[key] = f"{value}-{tag}"
        elif key == "videoId":
            out[key] = video
        else:
            out[key] = retag(value, video=video, tag=tag)
    return out


@dataclass
class DataApi(RecordingServer):
    """A local Data API: GET answers from ``routes``, every request recorded."""

    routes: dict[Route, tuple[int, bytes]] = field(default_factory=dict)

    def serve(
        self,
        key: str,
        content: Any,
        *,
        resource: str = "commentThreads",
        token: str | None = None,
        status: int = 200,
    ) -> None:
        with self.lock:
            self.routes[(resource, key, token)] = (status, json.dumps(content).encode())

    def answer(self, path: str) -> tuple[int, bytes]:
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        resource = url.path.rsplit("/", 1)[-1]
        key = query.get("videoId") if resource == "commentThreads" else query.get("parentId")
        with self.lock:
            found = self.routes.get((resource, key, query.get("pageToken")))
        return found or (404, (FIXTURES / "error_video_not_found.json").read_bytes())

    def calls(self, key: str) -> list[dict[str, str]]:
        """The query parameters of the calls about one video or thread."""
        out = []
        for received in self.received():
            query = {k: v[0] for k, v in parse_qs(urlsplit(received.path).query).items()}
            if key in (query.get("videoId"), query.get("parentId")):
                out.append(query)
        return out


@contextmanager
def data_api() -> Iterator[DataApi]:
    state = DataApi(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.requests.append(
                    Received(self.path, dict(self.headers.items()), b"", time.perf_counter())
                )
            status, content = state.answer(self.path)
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=UTF-8")
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Setup:
    poller: YouTubePoller
    runtime: Runtime
    api: DataApi
    clock: Clock
    video: str
    tag: str
    bootstrap: str
    # Where the comment topics ended when the test began: what came before is not its own
    # (other runs, benchmarks), and reading it all could take longer than the test waits.
    marks: dict[TopicPartition, int]

    def doc(self, name: str) -> Any:
        return retag(fixture(name), video=self.video, tag=self.tag)

    def thread(self, suffix: str, published: datetime) -> dict[str, Any]:
        """A documented thread as a new top-level comment written at ``published``."""
        item: dict[str, Any] = copy.deepcopy(self.doc("comment_threads_with_replies")["items"][1])
        thread_id = f"{item['id']}-{suffix}"
        item["id"] = item["snippet"]["topLevelComment"]["id"] = thread_id
        snippet = item["snippet"]["topLevelComment"]["snippet"]
        snippet["publishedAt"] = snippet["updatedAt"] = published.isoformat()
        snippet["textOriginal"] = f"comment {suffix}"
        return item

    async def notify(self) -> None:
        """Publish the WebSub-derived notice and wait until the poller tracks the video."""
        change = SourceChanged(
            event_id=derive_id("test-change", self.video),
            trace_id=self.tag,
            occurred_at=self.clock.now,
            platform="youtube",
            source=CHANNEL,
            item_id=self.video,
        )
        await self.runtime.bus.publish([to_message(SOURCE_CHANGES, change, key=self.video)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with self.runtime.engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(youtube_cursors.c.channel_id).where(
                            youtube_cursors.c.video_id == self.video
                        )
                    )
                ).first()
            if row is not None:
                assert row.channel_id == CHANNEL
                return
            await asyncio.sleep(0.2)
        raise AssertionError("the change notice was never tracked")

    async def comments(self, want: int) -> list[Comment]:
        """This video's comments on the topic, read by a new group from where the topics
        ended when the test began: at least ``want``, and whatever else arrives within a few
        quiet polls after that."""
        group = f"vigie-test-youtube-{uuid.uuid4().hex}"
        await start_group_at(self.bootstrap, group, self.marks)
        consumer = await self.runtime.bus.consumer(list(COMMENT_TOPICS), group=group)
        got: list[Comment] = []
        quiet = 0
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (len(got) < want or quiet < 3):
                batch = await consumer.poll(max_records=500, timeout_s=1.0)
                quiet = 0 if batch else quiet + 1
                for record in batch:
                    comment = Comment.model_validate_json(record.value)
                    if comment.post_id == self.video:
                        assert record.key == comment.partition_key.encode()
                        got.append(comment)
        finally:
            await consumer.close()
        return got


async def topic_ends(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    existing = await topic_partitions(bootstrap, topics)
    partitions = [TopicPartition(t, p) for t, numbers in existing.items() for p in numbers]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return dict((await consumer.end_offsets(partitions)).items()) if partitions else {}
    finally:
        await consumer.stop()


async def start_group_at(bootstrap: str, group: str, marks: dict[TopicPartition, int]) -> None:
    if not marks:
        return  # topics created by this test: the group starts at their beginning
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(marks))
        await consumer.commit(marks)
    finally:
        await consumer.stop()


@pytest.fixture
async def setup(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Setup]:
    bus = KafkaBus(kafka_bootstrap, client_id="vigie-youtube-poller-test")
    await bus.start()
    await bus.ensure_topics(list(COMMENT_TOPICS))
    marks = await topic_ends(kafka_bootstrap, list(COMMENT_TOPICS))
    clock = Clock()
    runtime = Runtime(
        bus=bus, engine=create_engine(database_url), registry=CollectorRegistry(), clock=clock
    )
    with data_api() as api:
        settings = IngestSettings(
            youtube_api_key=SecretStr(API_KEY),
            youtube_api_url=f"{api.url}/youtube/v3",
            youtube_quota_units_per_day=1_000_000,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
        )
        poller = YouTubePoller(settings, autopoll=False, max_pages_per_poll=2)
        await poller.start(runtime)
        tag = uuid.uuid4().hex[:8]
        try:
            yield Setup(poller, runtime, api, clock, f"it-{tag}", tag, kafka_bootstrap, marks)
        finally:
            await poller.stop()
            await runtime.close()


def ids(comments: list[Comment]) -> list[str]:
    return sorted(c.comment_id for c in comments)


async def test_comments_land_once_and_a_second_poll_publishes_only_the_new_one(
    setup: Setup,
) -> None:
    page = setup.doc("comment_threads_with_replies")
    page["items"] += setup.doc("comment_threads_more_replies")["items"]
    parent = page["items"][-1]["id"]
    first_replies = setup.doc("comments_replies_page_1")
    setup.api.serve(setup.video, page)
    setup.api.serve(parent, first_replies, resource="comments")
    setup.api.serve(
        parent,
        setup.doc("comments_replies_page_2"),
        resource="comments",
        token=first_replies["nextPageToken"],
    )

    await setup.notify()
    assert await setup.poller.poll_once() == 6 + 1 + 2  # bounded at 2 pages per poll
    assert await setup.poller.poll_once() == 1  # the rest of the replies, due at once

    published = await setup.comments(want=10)
    assert len(published) == 10
    assert len(set(ids(published))) == 10
    replies = [c for c in published if c.parent_id == parent]
    assert len(replies) == 3 and {c.thread_id for c in replies} == {parent}
    call = setup.api.calls(setup.video)[0]
    assert call["key"] == API_KEY
    assert (call["part"], call["order"], call["maxResults"]) == ("snippet,replies", "time", "100")

    newest = max(c.created_at for c in published if c.created_at is not None)
    fresh = setup.thread("new", newest + timedelta(minutes=5))
    page["items"].insert(0, fresh)
    setup.api.serve(setup.video, page)
    setup.clock.advance(300)

    assert await setup.poller.poll_once() == 1

    again = await setup.comments(want=11)
    assert ids(again) == sorted([*ids(published), fresh["id"]])
    setup.clock.advance(300)
    assert await setup.poller.poll_once() == 0


async def test_comments_written_during_a_downtime_are_backfilled(setup: Setup) -> None:
    start = setup.clock.now - timedelta(hours=3)
    step = timedelta(minutes=15)
    old = [setup.thread(f"old{n}", start - n * step) for n in range(2)]
    setup.api.serve(setup.video, {"items": old})
    await setup.notify()
    assert await setup.poller.poll_once() == 2

    # Six new comments over three pages, the last one reaching back to the known ones.
    new = [setup.thread(f"new{n}", start + n * step) for n in range(6, 0, -1)]
    pages = [new[0:2], new[2:4], new[4:6] + old]
    tokens = [None, f"{setup.tag}-p2", f"{setup.tag}-p3"]
    for n, items in enumerate(pages):
        content: dict[str, Any] = {"items": items}
        if n + 1 < len(pages):
            content["nextPageToken"] = tokens[n + 1]
        setup.api.serve(setup.video, content, token=tokens[n])
    setup.clock.advance(3600)

    assert await setup.poller.poll_once() == 4  # two pages: the bound
    assert await setup.poller.poll_once() == 2  # resumed on the third, met the cursor
    setup.clock.advance(300)
    assert await setup.poller.poll_once() == 0  # caught up: the newest page only

    published = await setup.comments(want=8)
    assert ids(published) == sorted(item["id"] for item in old + new)
    pages_read = [c.get("pageToken") for c in setup.api.calls(setup.video)]
    assert pages_read == [None, None, tokens[1], tokens[2], None]


async def test_a_video_with_disabled_comments_is_no_longer_polled(setup: Setup) -> None:
    setup.api.serve(setup.video, fixture("error_comments_disabled"), status=403)
    await setup.notify()

    assert await setup.poller.poll_once() == 0
    setup.clock.advance(3600)
    await setup.poller.poll_once()

    assert len(setup.api.calls(setup.video)) == 1
    async with setup.runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                select(youtube_cursors.c.tracked_until).where(
                    youtube_cursors.c.video_id == setup.video
                )
            )
        ).one()
    assert row.tracked_until <= setup.clock.now
