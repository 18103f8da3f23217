"""The YouTube comment poller: change notices in, comments out.

Two loops share one component:

- *tracking* consumes ``SourceChanged`` notices (YouTube WebSub pings) and upserts one
  ``youtube_cursors`` row per video, due at once, tracked for ``youtube_track_days``; the
  Kafka offsets are committed only after that write;
- *polling* picks the due videos, reads their new comments from the Data API
  (``youtube_api.PollRun``), publishes the ones not published before to
  its comment topic and only then moves the video's cursor forward: a crash or a broker
  outage makes the next poll read the same comments again, never skip them.

Quota is paced by a token bucket refilled at the daily quota spread over the day; the API's
own refusals (quota exhausted, key refused, video gone) become decisions from
``youtube_api.decide``. The API key is sent as the ``key`` query parameter and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import APIRouter
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from services.classifier.screen import comment_topic
from services.ingest import youtube_api as yt
from services.ingest.dedup import SeenStore
from services.ingest.settings import IngestSettings
from shared.bus import Consumer, Record
from shared.codec import to_message
from shared.events import Comment, SourceChanged
from shared.runtime import Runtime
from shared.storage.tables import youtube_cursors
from shared.topics import COMMENT_TOPICS, SOURCE_CHANGES

log = logging.getLogger(__name__)

GROUP = "vigie-youtube-poller"
_VIDEO_ID_MAX = 64  # youtube_cursors.video_id


class PollerMetrics:
    """Labels are outcomes and kinds, never video or comment ids."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.polls = Counter(
            "vigie_youtube_polls_total",
            "Polls of one video, by outcome (ok, partial, or what stopped it).",
            ["outcome"],
            registry=registry,
        )
        self.comments = Counter(
            "vigie_youtube_comments_published_total",
            "Comment revisions the poller published, by kind.",
            ["kind"],
            registry=registry,
        )
        self.quota = Counter(
            "vigie_youtube_quota_units_total",
            "Data API quota units spent, by method.",
            ["method"],
            registry=registry,
        )
        self.tracked = Gauge(
            "vigie_youtube_videos_tracked", "Videos the poller tracks.", registry=registry
        )
        self.malformed = Counter(
            "vigie_youtube_malformed_total",
            "Unreadable API answers (page) or items skipped in readable ones (item).",
            ["what"],
            registry=registry,
        )
        self.changes = Counter(
            "vigie_youtube_changes_total",
            "Change notices consumed, by outcome (tracked, ignored, undecodable).",
            ["outcome"],
            registry=registry,
        )


class _RedactKey(logging.Filter):
    """httpx logs each request's URL at INFO, and the URL holds the key: redact it."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self._key = key

    def _clean(self, value: Any) -> Any:
        text = str(value)
        return text.replace(self._key, "<redacted>") if self._key in text else value

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        record.msg = self._clean(record.msg)
        return True


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _upsert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(youtube_cursors).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=[youtube_cursors.c.video_id],
        set_={
            "channel_id": stmt.excluded.channel_id,
            "tracked_until": stmt.excluded.tracked_until,
            "next_poll_at": stmt.excluded.next_poll_at,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await conn.execute(stmt)


class YouTubePoller:
    """Polls the comments of the YouTube videos that WebSub says changed.

    Idle (ready, no task) when ``VIGIE_YOUTUBE_API_KEY`` is not set. ``autopoll=False``
    leaves the polling to explicit ``poll_once()`` calls (tests); ``seen`` shares the
    ingest service's de-duplication store, else the poller opens its own on the same table.
    """

    name = "youtube-poller"

    def __init__(
        self,
        settings: IngestSettings,
        *,
        seen: SeenStore | None = None,
        autopoll: bool = True,
        max_pages_per_poll: int = 10,
        batch_size: int = 50,
        idle_s: float = 2.0,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._key = (
            settings.youtube_api_key.get_secret_value().strip()
            if settings.youtube_api_key is not None
            else ""
        )
        self._seen = seen
        self._own_seen = False
        self._autopoll = autopoll
        self._max_pages = max_pages_per_poll
        self._batch_size = batch_size
        self._idle_s = idle_s
        self._timeout_s = timeout_s
        self._transport = transport
        self._runtime: Runtime | None = None
        self._metrics: PollerMetrics | None = None
        self._http: httpx.AsyncClient | None = None
        self._consumer: Consumer | None = None
        self._bucket: yt.TokenBucket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._paused_until: datetime | None = None
        self._lock = asyncio.Lock()
        self._redact = _RedactKey(self._key) if self._key else None

    @property
    def configured(self) -> bool:
        return bool(self._key)

    @property
    def paused_until(self) -> datetime | None:
        """When the whole poller resumes after the API refused the quota or the key."""
        return self._paused_until

    def routes(self) -> APIRouter | None:
        return None

    def ready(self) -> bool:
        if not self.configured:
            return True
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    async def start(self, runtime: Runtime) -> None:
        if not self.configured:
            log.info("youtube poller idle: VIGIE_YOUTUBE_API_KEY is not set")
            return
        self._runtime = runtime
        self._stopping.clear()
        if self._redact is not None:
            logging.getLogger("httpx").addFilter(self._redact)
        await runtime.bus.ensure_topics([SOURCE_CHANGES, *COMMENT_TOPICS])
        self._metrics = PollerMetrics(runtime.registry)
        if self._seen is None:
            self._seen = SeenStore(
                runtime.engine, runtime.clock, cache_size=self._settings.dedup_cache_size
            )
            self._own_seen = True
            await self._seen.start()
        self._bucket = yt.TokenBucket.for_quota(
            self._settings.youtube_quota_units_per_day, now=self._now().timestamp()
        )
        self._http = httpx.AsyncClient(
            base_url=self._settings.youtube_api_url.rstrip("/") + "/",
            timeout=httpx.Timeout(self._timeout_s, connect=min(5.0, self._timeout_s)),
            headers={"accept": "application/json"},
            transport=self._transport,
            follow_redirects=False,
        )
        self._consumer = await runtime.bus.consumer([SOURCE_CHANGES], group=GROUP)
        self._tasks.append(asyncio.create_task(self._track_loop(), name="youtube-track"))
        if self._autopoll:
            self._tasks.append(asyncio.create_task(self._poll_loop(), name="youtube-poll"))

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._consumer is not None:
            await self._consumer.close()
            self._consumer = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._own_seen and self._seen is not None:
            await self._seen.stop()
            self._seen, self._own_seen = None, False
        if self._redact is not None:
            logging.getLogger("httpx").removeFilter(self._redact)

    def _now(self) -> datetime:
        clock = self._runtime.clock if self._runtime is not None else None
        return _utc(clock()) if clock is not None else datetime.now(UTC)

    async def _sleep(self, seconds: float) -> bool:
        """Wait, or return True at once when stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    # --- tracking ------------------------------------------------------------------------

    async def _track_loop(self) -> None:
        assert self._consumer is not None
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                records = await self._consumer.poll(max_records=200, timeout_s=0.5)
                if records:
                    await self.track(records)
                    await self._consumer.commit(records)
                backoff = 0.2
            except Exception as exc:  # keep tracking: the records are redelivered
                log.warning(
                    "youtube poller: could not record change notices, retrying in %.1fs: %s",
                    backoff,
                    type(exc).__name__,
                )
                if await self._sleep(backoff):
                    return
                backoff = min(backoff * 2, 10.0)

    async def track(self, records: Sequence[Record]) -> int:
        """Upsert a cursor row per video named by these notices; returns how many."""
        runtime, metrics = self._runtime, self._metrics
        assert runtime is not None and metrics is not None
        now = self._now()
        videos: dict[str, str] = {}
        for record in records:
            try:
                change = SourceChanged.model_validate_json(record.value)
            except (ValidationError, ValueError):
                metrics.changes.labels("undecodable").inc()
                log.warning(
                    "youtube poller: undecodable change notice at %s/%d/%d",
                    record.topic,
                    record.partition,
                    record.offset,
                )
                continue
            video_id, channel_id = yt.valid_id(change.item_id), yt.valid_id(change.source)
            if (
                change.platform != yt.PLATFORM
                or video_id is None
                or channel_id is None
                or len(video_id) > _VIDEO_ID_MAX
            ):
                metrics.changes.labels("ignored").inc()
                continue
            videos[video_id] = channel_id
        if not videos:
            return 0
        tracked_until = now + timedelta(days=self._settings.youtube_track_days)
        async with runtime.engine.begin() as conn:
            for video_id, channel_id in videos.items():
                await _upsert(
                    conn,
                    {
                        "video_id": video_id,
                        "channel_id": channel_id,
                        "cursor": yt.Cursor().to_json(),
                        "tracked_until": tracked_until,
                        "next_poll_at": now,
                        "updated_at": now,
                    },
                )
        metrics.changes.labels("tracked").inc(len(videos))
        return len(videos)

    # --- polling -------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        backoff = self._idle_s
        while not self._stopping.is_set():
            try:
                await self.poll_once()
                backoff = self._idle_s
            except Exception as exc:  # broker or database away: poll again later
                log.warning(
                    "youtube poller: poll failed, retrying in %.1fs: %s",
                    backoff,
                    type(exc).__name__,
                )
                backoff = min(backoff * 2, 60.0)
            if await self._sleep(backoff):
                return

    async def poll_once(self) -> int:
        """Poll every due video once (as far as the quota allows); returns how many comment
        revisions were published. Raises when the broker or the database fails."""
        if not self.configured:
            return 0
        async with self._lock:
            return await self._poll_due()

    async def _poll_due(self) -> int:
        runtime, metrics, bucket = self._runtime, self._metrics, self._bucket
        assert runtime is not None and metrics is not None and bucket is not None
        now = self._now()
        if self._paused_until is not None:
            if now < self._paused_until:
                return 0
            log.info("youtube poller resumes")
            self._paused_until = None
        t = youtube_cursors
        async with runtime.engine.connect() as conn:
            tracked = (
                await conn.execute(
                    select(func.count()).select_from(t).where(t.c.tracked_until > now)
                )
            ).scalar_one()
            due = (
                await conn.execute(
                    select(t.c.video_id, t.c.channel_id, t.c.cursor)
                    .where(t.c.next_poll_at <= now, t.c.tracked_until > now)
                    .order_by(t.c.next_poll_at)
                    .limit(self._batch_size)
                )
            ).all()
        metrics.tracked.set(tracked)
        interval = timedelta(
            seconds=yt.poll_interval_s(
                self._settings.youtube_poll_interval_s,
                tracked,
                self._settings.youtube_quota_units_per_day,
            )
        )
        published = 0
        for video_id, channel_id, cursor in due:
            if self._paused_until is not None:
                break
            if bucket.available(self._now().timestamp()) < yt.LIST_COST:
                break  # the quota's pace: the rest stays due for the next pass
            published += await self._poll_video(video_id, channel_id, cursor, interval)
        return published

    async def _poll_video(
        self, video_id: str, channel_id: str, stored: Any, interval: timedelta
    ) -> int:
        metrics, bucket, http = self._metrics, self._bucket, self._http
        assert metrics is not None and bucket is not None and http is not None
        now = self._now()
        cursor = yt.Cursor.from_json(stored)
        run = yt.PollRun(
            cursor,
            video_id=video_id,
            channel_id=channel_id,
            max_pages=self._max_pages,
            received_at=now,
        )
        failures = cursor.failures + 1
        decision: yt.Decision | None = None
        comments: list[Comment] = []
        while (call := run.next_call()) is not None:
            if not bucket.take(yt.LIST_COST, self._now().timestamp()):
                break
            metrics.quota.labels(call.resource).inc(yt.LIST_COST)
            try:
                response = await http.get(call.resource, params={**call.params, "key": self._key})
            except httpx.HTTPError as exc:
                # The exception's text may hold the request URL, hence the key: not logged.
                log.warning("youtube api unreachable: %s", type(exc).__name__)
                decision = yt.decide(None, b"", now=now, failures=failures)
                break
            if response.status_code != 200:
                decision = yt.decide(
                    response.status_code, response.content, now=now, failures=failures
                )
                log.warning(
                    "youtube api answered %d on %s: %s",
                    response.status_code,
                    call.resource,
                    decision.outcome,
                    extra={"fields": {"video_id": video_id}},
                )
                break
            try:
                comments.extend(run.feed(response.json()))
            except (ValueError, RecursionError):
                metrics.malformed.labels("page").inc()
                log.warning(
                    "youtube api: unreadable %s answer, skipped",
                    call.resource,
                    extra={"fields": {"video_id": video_id}},
                )
                decision = yt.malformed(now, failures)
                break
        if run.skipped:
            metrics.malformed.labels("item").inc(run.skipped)
            log.warning(
                "youtube api: %d malformed items skipped",
                run.skipped,
                extra={"fields": {"video_id": video_id}},
            )
        published = await self._publish(comments)
        await self._settle(video_id, run, decision, now, interval)
        return published

    async def _publish(self, comments: Sequence[Comment]) -> int:
        """Publish the revisions not published before; returns how many."""
        runtime, metrics, seen = self._runtime, self._metrics, self._seen
        assert runtime is not None and metrics is not None and seen is not None
        ordered = yt.publish_order(comments)
        if not ordered:
            return 0
        known = await seen.seen([c.event_id for c in ordered])
        fresh = [c for c in ordered if c.event_id not in known]
        if not fresh:
            return 0
        await runtime.bus.publish(
            [to_message(comment_topic(c), c, key=c.partition_key) for c in fresh]
        )
        seen.remember((c.event_id, yt.PLATFORM) for c in fresh)
        for comment in fresh:
            metrics.comments.labels(comment.kind.value).inc()
        return len(fresh)

    async def _settle(
        self,
        video_id: str,
        run: yt.PollRun,
        decision: yt.Decision | None,
        now: datetime,
        interval: timedelta,
    ) -> None:
        """Store the cursor and the next poll time, once the comments are published."""
        runtime, metrics, bucket = self._runtime, self._metrics, self._bucket
        assert runtime is not None and metrics is not None and bucket is not None
        cursor = run.cursor()
        values: dict[str, Any] = {"updated_at": now}
        if decision is None:
            cursor = replace(cursor, failures=0)
            outcome = "ok" if run.caught_up else "partial"
            values["next_poll_at"] = now + interval if run.caught_up else now
        else:
            outcome = decision.outcome
            action = decision.action
            if action is yt.Action.RETRY:
                cursor = replace(cursor, failures=cursor.failures + 1)
                values["next_poll_at"] = decision.until or now + interval
            elif action is yt.Action.PAUSE:
                self._paused_until = decision.until
                if decision.outcome == "quota_exceeded":
                    bucket.drain(now.timestamp())
                values["next_poll_at"] = decision.until or now + interval
                log.error(
                    "youtube poller paused until %s: %s",
                    (decision.until or now).isoformat(),
                    decision.outcome,
                )
            elif action is yt.Action.RESTART:
                cursor = cursor.without_tokens()
                values["next_poll_at"] = now
            else:
                values["next_poll_at"] = now
                values["tracked_until"] = now
                log.info(
                    "youtube poller stops tracking a video: %s",
                    decision.outcome,
                    extra={"fields": {"video_id": video_id}},
                )
        values["cursor"] = cursor.to_json()
        async with runtime.engine.begin() as conn:
            await conn.execute(
                update(youtube_cursors)
                .where(youtube_cursors.c.video_id == video_id)
                .values(**values)
            )
        metrics.polls.labels(outcome).inc()
