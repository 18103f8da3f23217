"""YouTube Data API v3 comments: mapping, cursors, pacing and error decisions, without I/O.

YouTube's WebSub pings only say that a video changed; its comments are read with
``commentThreads.list`` (newest threads first, top-level comments with up to a few replies
embedded) and ``comments.list`` (every reply of one thread). ``youtube_poller.py`` does the
HTTP calls, the publishing and the database writes; this module decides what to call, what
the answers mean and where to resume, so that it can be tested on recorded responses.

A poll of one video (``PollRun``) pages back through the threads until it meets the
video's cursor (the newest ``publishedAt``/``updatedAt`` already published), so that new
comments written during a downtime are backfilled. Pages per poll are bounded: a backfill
that needs more pages saves its page token in the cursor and resumes at the next poll, and
the cursor moves forward only once the backfill has met it.

Nothing here raises on bad input except ``MalformedResponse`` for a page that cannot be read
at all; a malformed item is skipped and counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.ingest.adapters.base import (
    Context,
    PayloadError,
    build_comment,
    comment_event_id,
    epoch_ms,
)
from shared.events import Comment, CommentKind

PLATFORM = "youtube"
THREADS = "commentThreads"
REPLIES = "comments"
MAX_RESULTS = 100
LIST_COST = 1  # quota units of one commentThreads.list or comments.list call
CURSOR_OVERLAP = timedelta(minutes=10)
MAX_REPLY_COUNTS = 2_000
MAX_PENDING_REPLIES = 500
_CURSOR_VERSION = 1


class MalformedResponse(ValueError):
    """A 200 answer whose body is not a readable list response."""


# --- mapping -----------------------------------------------------------------------------


def comment_url(video_id: str, comment_id: str) -> str:
    """The comment's permalink: the watch page highlighting it."""
    video, comment = quote(video_id, safe=""), quote(comment_id, safe="")
    return f"https://www.youtube.com/watch?v={video}&lc={comment}"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time as the API writes it (``2019-11-26T15:51:44.000Z``), else None."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    return moment if moment.year >= 1970 else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """The text with lone surrogates (valid JSON escapes, not valid UTF-8) replaced."""
    return _SURROGATE.sub("\ufffd", value)


def valid_id(value: Any) -> str | None:
    """An id or page token as sent back to the API: a non-empty string of valid UTF-8."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return None
    return None if _SURROGATE.search(value) else value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, min(value, 10**9))


@dataclass(frozen=True, slots=True)
class _Mapped:
    comment: Comment
    published_at: datetime
    latest_at: datetime


def _map_comment(
    resource: Any,
    *,
    video_id: str,
    channel_id: str,
    parent_id: str | None,
    received_at: datetime,
    delivery_id: str,
) -> _Mapped | None:
    """One ``youtube#comment`` resource as a Comment; None when it is malformed.

    ``parent_id`` is None for a top-level comment; for a reply it is the thread's id, used
    when the reply does not name its parent itself.
    """
    if not isinstance(resource, dict):
        return None
    comment_id = valid_id(resource.get("id"))
    snippet = resource.get("snippet")
    if comment_id is None or not isinstance(snippet, dict):
        return None
    text = snippet.get("textOriginal")
    if not isinstance(text, str):
        text = snippet.get("textDisplay")
    published_at = parse_time(snippet.get("publishedAt"))
    if not isinstance(text, str) or published_at is None:
        return None
    text = clean_text(text)
    updated_at = parse_time(snippet.get("updatedAt")) or published_at
    author = snippet.get("authorChannelId")
    name = snippet.get("authorDisplayName")
    author_name = clean_text(name)[:512] if isinstance(name, str) and name else None
    author_id = valid_id(author.get("value")) if isinstance(author, dict) else None
    if parent_id is not None:
        parent_id = valid_id(snippet.get("parentId")) or parent_id
    if updated_at > published_at:
        kind, revision = CommentKind.EDITED, epoch_ms(updated_at)
    else:
        kind, revision = CommentKind.CREATED, 0
    trace_id = comment_event_id(PLATFORM, comment_id, revision, kind).hex
    context = Context(received_at=received_at, delivery_id=delivery_id, trace_id=trace_id)
    try:
        comment = build_comment(
            context,
            platform=PLATFORM,
            source=channel_id,
            comment_id=comment_id,
            text=text,
            author_id=(author_id or author_name or "unknown")[:256],
            author_name=author_name,
            post_id=video_id,
            parent_id=parent_id,
            revision=revision,
            kind=kind,
            created_at=published_at,
            url=comment_url(video_id, comment_id),
        )
    except PayloadError:
        return None
    return _Mapped(comment, published_at, max(published_at, updated_at))


@dataclass(frozen=True, slots=True)
class Page:
    """What one list response holds for the poller."""

    comments: tuple[Comment, ...] = ()
    next_page_token: str | None = None
    oldest_thread_at: datetime | None = None  # the oldest top-level comment on the page
    newest_at: datetime | None = None  # the newest publishedAt/updatedAt on the page
    # Threads that declare more replies than they embed: (thread id, totalReplyCount).
    reply_fetches: tuple[tuple[str, int], ...] = ()
    skipped: int = 0  # malformed items left out


def _items(data: Any) -> tuple[list[Any], str | None]:
    if not isinstance(data, dict):
        raise MalformedResponse("response is not a JSON object")
    items = data.get("items", [])
    if not isinstance(items, list):
        raise MalformedResponse("items is not a list")
    token = data.get("nextPageToken")
    if token is not None and token != "" and valid_id(token) is None:
        raise MalformedResponse("nextPageToken is not a valid string")
    return items, token or None


def _latest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


def parse_threads(
    data: Any, *, video_id: str, channel_id: str, received_at: datetime, delivery_id: str
) -> Page:
    """A ``commentThreads.list`` response (``part=snippet,replies``)."""
    items, token = _items(data)
    comments: list[Comment] = []
    fetches: list[tuple[str, int]] = []
    oldest: datetime | None = None
    newest: datetime | None = None
    skipped = 0
    common: dict[str, Any] = {
        "video_id": video_id,
        "channel_id": channel_id,
        "received_at": received_at,
        "delivery_id": delivery_id,
    }
    for item in items:
        snippet = item.get("snippet") if isinstance(item, dict) else None
        if not isinstance(snippet, dict):
            skipped += 1
            continue
        top = _map_comment(snippet.get("topLevelComment"), parent_id=None, **common)
        thread_id = valid_id(item.get("id")) or (top.comment.comment_id if top else None)
        if top is None:
            skipped += 1
        else:
            comments.append(top.comment)
            oldest = min(oldest, top.published_at) if oldest else top.published_at
            newest = _latest(newest, top.latest_at)
        if thread_id is None:
            continue
        replies = item.get("replies")
        embedded = replies.get("comments") if isinstance(replies, dict) else None
        embedded = embedded if isinstance(embedded, list) else []
        for resource in embedded:
            reply = _map_comment(resource, parent_id=thread_id, **common)
            if reply is None:
                skipped += 1
                continue
            comments.append(reply.comment)
            newest = _latest(newest, reply.latest_at)
        total = _count(snippet.get("totalReplyCount"))
        if total > len(embedded):
            fetches.append((thread_id, total))
    return Page(tuple(comments), token, oldest, newest, tuple(fetches), skipped)


def parse_replies(
    data: Any,
    *,
    video_id: str,
    channel_id: str,
    thread_id: str,
    received_at: datetime,
    delivery_id: str,
) -> Page:
    """A ``comments.list?parentId=<thread>`` response."""
    items, token = _items(data)
    comments: list[Comment] = []
    newest: datetime | None = None
    skipped = 0
    for resource in items:
        reply = _map_comment(
            resource,
            video_id=video_id,
            channel_id=channel_id,
            parent_id=thread_id,
            received_at=received_at,
            delivery_id=delivery_id,
        )
        if reply is None:
            skipped += 1
            continue
        comments.append(reply.comment)
        newest = _latest(newest, reply.latest_at)
    return Page(tuple(comments), token, None, newest, (), skipped)


# --- cursor ------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


@dataclass(frozen=True, slots=True)
class Cursor:
    """What the poller remembers of one video between polls (``youtube_cursors.cursor``)."""

    watermark: datetime | None = None  # newest publishedAt/updatedAt published
    resume_token: str | None = None  # a backfill in progress continues from this page
    resume_newest: datetime | None = None  # the newest time that backfill has seen
    pending_replies: tuple[tuple[str, int], ...] = ()  # threads whose replies are due
    reply_token: str | None = None  # the first pending thread's replies continue here
    reply_counts: Mapping[str, int] = field(default_factory=dict)  # replies fully read
    failures: int = 0  # consecutive failed polls (backoff)

    @property
    def backfilling(self) -> bool:
        return self.resume_token is not None

    def without_tokens(self) -> Cursor:
        """Forget page tokens the API no longer accepts: page again from the newest."""
        return replace(self, resume_token=None, resume_newest=None, reply_token=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": _CURSOR_VERSION,
            "watermark": _iso(self.watermark),
            "resume_token": self.resume_token,
            "resume_newest": _iso(self.resume_newest),
            "pending_replies": [[t, n] for t, n in self.pending_replies],
            "reply_token": self.reply_token,
            "reply_counts": dict(self.reply_counts),
            "failures": self.failures,
        }

    @classmethod
    def from_json(cls, data: Any) -> Cursor:
        """The stored cursor; anything unreadable in it falls back to its default."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                data = None
        if not isinstance(data, dict):
            return cls()
        token = data.get("resume_token")
        reply_token = data.get("reply_token")
        pending_raw = data.get("pending_replies")
        pending = tuple(
            (p[0], _count(p[1]))
            for p in (pending_raw if isinstance(pending_raw, list) else [])
            if isinstance(p, list) and len(p) == 2 and valid_id(p[0])
        )
        counts_raw = data.get("reply_counts")
        counts = {
            k: _count(v)
            for k, v in (counts_raw.items() if isinstance(counts_raw, dict) else [])
            if valid_id(k)
        }
        return cls(
            watermark=parse_time(data.get("watermark")),
            resume_token=valid_id(token),
            resume_newest=parse_time(data.get("resume_newest")),
            pending_replies=pending[:MAX_PENDING_REPLIES],
            reply_token=valid_id(reply_token),
            reply_counts=counts,
            failures=_count(data.get("failures")),
        )


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One list call to make: ``GET <api>/<resource>?<params>&key=<key>``."""

    resource: str
    params: Mapping[str, str]
    thread_id: str | None = None


def _bounded(counts: Mapping[str, int], limit: int) -> dict[str, int]:
    items = list(counts.items())
    return dict(items[-limit:])


class PollRun:
    """One poll of one video: which calls to make, what they yield, where to resume.

    Call ``next_call`` and ``feed`` the decoded answer until ``next_call`` returns None (or
    stop early on an error); ``cursor()`` is then the state to store once the comments fed
    so far are published. Threads come first; then the replies of threads that declare more
    than they embed (``comments.list``), each counted against the same page budget.
    """

    def __init__(
        self,
        cursor: Cursor,
        *,
        video_id: str,
        channel_id: str,
        max_pages: int,
        received_at: datetime,
        overlap: timedelta = CURSOR_OVERLAP,
    ) -> None:
        self._start = cursor
        self._video_id = video_id
        self._channel_id = channel_id
        self._max_pages = max(1, max_pages)
        self._received_at = received_at
        self._overlap = overlap
        self._delivery_id = f"youtube-poll:{video_id}:{epoch_ms(received_at)}"
        self._token = cursor.resume_token
        self._newest = cursor.resume_newest if cursor.backfilling else None
        self._threads_done = False
        self._caught_up = False  # thread paging met the cursor or the last page
        self._pages = 0
        self._queue: list[tuple[str, int]] = list(cursor.pending_replies)
        self._reply_token = cursor.reply_token if cursor.pending_replies else None
        self._counts: dict[str, int] = dict(cursor.reply_counts)
        self._last: ApiCall | None = None
        self.skipped = 0

    @property
    def pages(self) -> int:
        return self._pages

    @property
    def caught_up(self) -> bool:
        """Nothing left to read: the next poll can wait for the regular interval."""
        return self._caught_up and not self._queue

    def next_call(self) -> ApiCall | None:
        self._last = None
        if self._pages >= self._max_pages:
            return None
        if not self._threads_done:
            params = {
                "part": "snippet,replies",
                "videoId": self._video_id,
                "order": "time",
                "maxResults": str(MAX_RESULTS),
                "textFormat": "plainText",
            }
            if self._token:
                params["pageToken"] = self._token
            self._last = ApiCall(THREADS, params)
        elif self._queue:
            thread_id = self._queue[0][0]
            params = {
                "part": "snippet",
                "parentId": thread_id,
                "maxResults": str(MAX_RESULTS),
                "textFormat": "plainText",
            }
            if self._reply_token:
                params["pageToken"] = self._reply_token
            self._last = ApiCall(REPLIES, params, thread_id)
        return self._last

    def feed(self, data: Any) -> tuple[Comment, ...]:
        """The comments of the answer to the last call; ``MalformedResponse`` leaves the run
        as it was before that call."""
        call = self._last
        if call is None:
            raise RuntimeError("feed() without a pending call")
        common: dict[str, Any] = {
            "video_id": self._video_id,
            "channel_id": self._channel_id,
            "received_at": self._received_at,
            "delivery_id": self._delivery_id,
        }
        if call.thread_id is None:
            page = parse_threads(data, **common)
            self._after_threads(page)
        else:
            page = parse_replies(data, thread_id=call.thread_id, **common)
            self._after_replies(call.thread_id, page)
        self._last = None
        self._pages += 1
        self.skipped += page.skipped
        return page.comments

    def _after_threads(self, page: Page) -> None:
        self._newest = _latest(self._newest, page.newest_at)
        queued = {t for t, _ in self._queue}
        for thread_id, total in page.reply_fetches:
            if self._counts.get(thread_id) != total and thread_id not in queued:
                self._queue.append((thread_id, total))
                queued.add(thread_id)
        watermark = self._start.watermark
        met = (
            watermark is not None
            and page.oldest_thread_at is not None
            and page.oldest_thread_at <= watermark - self._overlap
        )
        if met or page.next_page_token is None:
            self._threads_done = self._caught_up = True
            self._token = None
            return
        self._token = page.next_page_token
        if self._pages + 1 >= self._max_pages:
            self._threads_done = True
            # Without a cursor (a video's first poll), read back as far as one poll's budget
            # allows, then start from there.
            if watermark is None:
                self._caught_up = True
                self._token = None

    def _after_replies(self, thread_id: str, page: Page) -> None:
        if page.next_page_token:
            self._reply_token = page.next_page_token
            return
        total = self._queue.pop(0)[1]
        self._counts.pop(thread_id, None)
        self._counts[thread_id] = total
        self._reply_token = None

    def cursor(self) -> Cursor:
        """The cursor once every comment fed so far is published."""
        start = self._start
        replies = replace(
            start,
            pending_replies=tuple(self._queue[:MAX_PENDING_REPLIES]),
            reply_token=self._reply_token if self._queue else None,
            reply_counts=_bounded(self._counts, MAX_REPLY_COUNTS),
        )
        if self._caught_up:
            return replace(
                replies,
                watermark=_latest(start.watermark, self._newest),
                resume_token=None,
                resume_newest=None,
            )
        if self._token is not None:
            return replace(replies, resume_token=self._token, resume_newest=self._newest)
        return replies


# --- pacing ------------------------------------------------------------------------------


class TokenBucket:
    """Quota pacing: ``rate`` units per second, at most ``capacity`` saved up.

    Times are seconds on any monotonic-enough scale (the runtime clock's timestamps).
    """

    def __init__(self, rate: float, capacity: float, *, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._at = now

    @classmethod
    def for_quota(cls, units_per_day: int, *, now: float, burst_s: float = 900.0) -> TokenBucket:
        """Refilled at the daily quota spread over the day; a burst of ``burst_s`` worth."""
        rate = units_per_day / 86_400
        return cls(rate, max(float(LIST_COST), rate * burst_s), now=now)

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def available(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def take(self, units: float, now: float) -> bool:
        self._refill(now)
        if self._tokens + 1e-9 < units:
            return False
        self._tokens -= units
        return True

    def wait_s(self, units: float, now: float) -> float:
        """Seconds until ``units`` can be taken."""
        self._refill(now)
        missing = units - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def drain(self, now: float) -> None:
        """Spend what is saved up (the API said the quota is gone)."""
        self._refill(now)
        self._tokens = 0.0


def poll_interval_s(
    base_s: float, tracked: int, units_per_day: int, *, units_per_poll: float = LIST_COST
) -> float:
    """The regular interval between polls of one video, stretched so that polling every
    tracked video spends at most 80% of the daily quota (the rest is for backfills and
    replies)."""
    budget = units_per_day * 0.8
    needed_s = tracked * units_per_poll * 86_400 / budget if budget > 0 else float("inf")
    return max(base_s, needed_s)


def _pacific() -> timezone | ZoneInfo:
    try:
        return ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:  # no tz database: standard time, at worst an hour late
        return timezone(timedelta(hours=-8))


def quota_resets_at(now: datetime) -> datetime:
    """The next reset of the daily quota: midnight Pacific Time (determine_quota_cost)."""
    zone = _pacific()
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return midnight.astimezone(UTC)


def retry_backoff(failures: int) -> timedelta:
    """30 s after the first failure, doubling up to an hour."""
    exponent = min(max(failures, 1) - 1, 20)
    return timedelta(seconds=min(30 * 2**exponent, 3600))


# --- errors ------------------------------------------------------------------------------


class Action(StrEnum):
    RETRY = "retry"  # transient: poll this video again after a backoff
    PAUSE = "pause"  # every call would fail the same way: the whole poller waits
    STOP = "stop"  # this video cannot be read: stop tracking it (a new ping re-tracks it)
    RESTART = "restart"  # the page token is no longer valid: page again from the newest


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    outcome: str  # metric label: a fixed word
    until: datetime | None = None  # RETRY and PAUSE: when to call again


_QUOTA = frozenset({"quotaExceeded", "dailyLimitExceeded"})
_RATE = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})
# The key or project is refused: every video would fail alike, so stopping them all would be
# wrong. Wait for an operator instead.
_KEY = frozenset(
    {
        "keyInvalid",
        "keyExpired",
        "API_KEY_INVALID",
        "accessNotConfigured",
        "SERVICE_DISABLED",
        "ipRefererBlocked",
        "API_KEY_SERVICE_BLOCKED",
    }
)
KEY_REJECTED_PAUSE = timedelta(hours=1)


def error_reasons(body: bytes) -> frozenset[str]:
    """The ``reason`` words of a Google error body (``error.errors[]`` and
    ``error.details[]``); empty when the body is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return frozenset()
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return frozenset()
    reasons: set[str] = set()
    for key in ("errors", "details"):
        entries = error.get(key)
        for entry in entries if isinstance(entries, list) else []:
            reason = entry.get("reason") if isinstance(entry, dict) else None
            if isinstance(reason, str) and 0 < len(reason) <= 100:
                reasons.add(reason)
    return frozenset(reasons)


def _retry(outcome: str, now: datetime, failures: int) -> Decision:
    return Decision(Action.RETRY, outcome, now + retry_backoff(failures))


def decide(status: int | None, body: bytes, *, now: datetime, failures: int) -> Decision:
    """What to do after a failed call. ``status`` is None for a network failure or timeout;
    ``failures`` counts this one."""
    if status is None:
        return _retry("network_error", now, failures)
    reasons = error_reasons(body)
    if status >= 500:
        return _retry("server_error", now, failures)
    if status == 429 or reasons & _RATE:
        return _retry("rate_limited", now, failures)
    if reasons & _QUOTA:
        return Decision(Action.PAUSE, "quota_exceeded", quota_resets_at(now))
    if reasons & _KEY:
        return Decision(Action.PAUSE, "key_rejected", now + KEY_REJECTED_PAUSE)
    if status == 400 and "invalidPageToken" in reasons:
        return Decision(Action.RESTART, "invalid_page_token")
    if status == 403 and "commentsDisabled" in reasons:
        return Decision(Action.STOP, "comments_disabled")
    if status == 404:
        return Decision(Action.STOP, "not_found")
    if status == 400:
        return Decision(Action.STOP, "bad_request")
    if 400 <= status < 500:
        return Decision(Action.STOP, "forbidden" if status in (401, 403) else "client_error")
    return _retry("unexpected_status", now, failures)


def malformed(now: datetime, failures: int) -> Decision:
    """A 200 answer that cannot be read: try again later, it may be a proxy's page."""
    return _retry("malformed", now, failures)


def publish_order(comments: Iterable[Comment]) -> list[Comment]:
    """Unique revisions, oldest first, so that a thread's comments reach the pipeline in
    the order they were written."""
    unique = {c.event_id: c for c in comments}
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(unique.values(), key=lambda c: (c.created_at or floor, c.revision))
