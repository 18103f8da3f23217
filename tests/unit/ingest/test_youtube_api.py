"""The YouTube Data API side of the poller: mapping, cursors, pacing, error decisions, and the
poller itself on the in-memory bus and SQLite (the embedded mode's set-up)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import select

from services.ingest import youtube_api as yt
from services.ingest.adapters.base import epoch_ms
from services.ingest.settings import IngestSettings
from services.ingest.youtube_poller import YouTubePoller
from shared.bus import BusUnavailable, Message, Record
from shared.bus.memory import MemoryBus
from shared.bus.protocol import Acked
from shared.codec import to_message
from shared.events import Comment, CommentKind, SourceChanged, derive_id
from shared.runtime import Runtime
from shared.storage.engine import create_engine
from shared.storage.tables import youtube_cursors
from shared.topics import COMMENT_TOPICS, SOURCE_CHANGES

FIXTURES = Path(__file__).parents[2] / "fixtures" / "youtube_api"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
VIDEO, CHANNEL = "D-lhorsDlUQ", "UC_x5XG1OV2P6uZZ5FSM9Ttw"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def threads(data: Any, *, video: str = VIDEO) -> yt.Page:
    return yt.parse_threads(
        data, video_id=video, channel_id=CHANNEL, received_at=NOW, delivery_id="d"
    )


def replies(data: Any) -> yt.Page:
    return yt.parse_replies(
        data, video_id=VIDEO, channel_id=CHANNEL, thread_id="t", received_at=NOW, delivery_id="d"
    )


# A thread built from a documented one, with its ids and times replaced.
_TEMPLATE = fixture("comment_threads_with_replies")["items"][0]


def thread(
    thread_id: str,
    published: str,
    *,
    updated: str | None = None,
    replies: int = 0,
    total: int | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = copy.deepcopy(_TEMPLATE)
    item["id"] = thread_id
    top = item["snippet"]["topLevelComment"]
    top["id"] = thread_id
    top["snippet"]["publishedAt"] = published
    top["snippet"]["updatedAt"] = updated or published
    top["snippet"]["textOriginal"] = text or f"comment {thread_id}"
    template_reply = item["replies"]["comments"][0]
    item["replies"]["comments"] = []
    for n in range(replies):
        reply = copy.deepcopy(template_reply)
        reply["id"] = f"{thread_id}.r{n}"
        reply["snippet"]["parentId"] = thread_id
        reply["snippet"]["publishedAt"] = reply["snippet"]["updatedAt"] = published
        item["replies"]["comments"].append(reply)
    item["snippet"]["totalReplyCount"] = replies if total is None else total
    return item


def page(*items: Any, token: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": "youtube#commentThreadListResponse", "items": list(items)}
    if token:
        data["nextPageToken"] = token
    return data


# --- mapping -----------------------------------------------------------------------------


def test_a_threads_page_maps_every_top_level_comment() -> None:
    result = threads(fixture("comment_threads_page_with_next"), video="F1UP7wRCPH8")

    assert len(result.comments) == 5
    first = result.comments[0]
    assert (first.platform, first.source, first.post_id) == ("youtube", CHANNEL, "F1UP7wRCPH8")
    assert first.comment_id == first.thread_id == "UgyZ1jqkHKYvi1-ruOZ4AaABAg"
    assert first.parent_id is None
    assert (first.kind, first.revision) == (CommentKind.CREATED, 0)
    assert first.text == "Google.com"  # textOriginal, not the HTML of textDisplay
    assert (first.author.id, first.author.name) == ("UCzj-CjKYmGlZ7vTL-vOe57A", "himani agarwal")
    assert first.created_at == at("2019-11-26T15:51:44")
    assert first.url == "https://www.youtube.com/watch?v=F1UP7wRCPH8&lc=UgyZ1jqkHKYvi1-ruOZ4AaABAg"
    assert first.event_id == derive_id("comment", "youtube", first.comment_id, "0")
    assert result.next_page_token is not None and result.next_page_token.startswith("QURTSl9p")
    assert result.oldest_thread_at == at("2019-11-14T23:31:33")
    assert result.newest_at == at("2019-11-26T15:51:44")
    # The last thread declares two replies it does not embed: they must be listed.
    assert result.reply_fetches == (("UgwI_ylXVnzPS8Q-oAV4AaABAg", 2),)
    assert result.skipped == 0


def test_embedded_replies_answer_the_top_level_comment() -> None:
    result = threads(fixture("comment_threads_with_replies"))

    by_id = {c.comment_id: c for c in result.comments}
    reply = by_id["UgydxWWoeA7F1OdqypJ4AaABAg.8wWQ3tdHcFx8xcDheui-qb"]
    assert reply.parent_id == reply.thread_id == "UgydxWWoeA7F1OdqypJ4AaABAg"
    assert reply.partition_key == "youtube:UgydxWWoeA7F1OdqypJ4AaABAg"
    assert reply.author.id == "UCsl2A_QzcSnFD2hpCyVwXxA"
    assert reply.url is not None and reply.url.endswith("&lc=" + reply.comment_id)
    assert len(result.comments) == 6
    assert result.reply_fetches == ()  # every reply is embedded
    assert result.next_page_token is None
    assert result.newest_at == at("2019-07-20T20:22:27")  # the reply is the newest


def test_an_edited_comment_is_an_edit_revised_at_its_update_time() -> None:
    plain, edited = threads(fixture("comment_threads_edited")).comments

    assert (plain.kind, plain.revision) == (CommentKind.CREATED, 0)
    assert edited.kind is CommentKind.EDITED
    assert edited.revision == epoch_ms(at("2019-04-05T09:30:00"))
    assert edited.text == "super, edited"
    assert edited.created_at == at("2019-04-04T04:14:44")
    assert edited.event_id != derive_id("comment", "youtube", edited.comment_id, "0")


def test_a_replies_page_maps_replies_to_their_thread() -> None:
    first = yt.parse_replies(
        fixture("comments_replies_page_1"),
        video_id="JE8xdDp5B8Q",
        channel_id=CHANNEL,
        thread_id="Ugw5zYU6n9pmIgAZWvN4AaABAg",
        received_at=NOW,
        delivery_id="d",
    )

    assert [c.text for c in first.comments] == [
        "this is the third reply!",
        "this is the second reply!",
    ]
    assert {c.parent_id for c in first.comments} == {"Ugw5zYU6n9pmIgAZWvN4AaABAg"}
    assert first.next_page_token is not None


def test_text_display_and_the_display_name_stand_in_for_missing_fields() -> None:
    item = thread("Ugx1", "2026-11-20T10:00:00Z")
    snippet = item["snippet"]["topLevelComment"]["snippet"]
    del snippet["textOriginal"], snippet["authorChannelId"]
    snippet["textDisplay"] = "shown text"

    (comment,) = threads(page(item)).comments

    assert comment.text == "shown text"
    assert (comment.author.id, comment.author.name) == ("Loren Robilio", "Loren Robilio")


def test_the_same_response_always_yields_the_same_events() -> None:
    data = fixture("comment_threads_with_replies")

    once = [c.event_id for c in threads(data).comments]
    again = [c.event_id for c in threads(copy.deepcopy(data)).comments]

    assert once == again
    assert len(set(once)) == len(once)


@pytest.mark.parametrize(
    "data",
    [
        [],
        "items",
        None,
        42,
        {"items": {}},
        {"items": "x"},
        {"items": [], "nextPageToken": 5},
        {"items": [], "nextPageToken": "\ud800"},
    ],
)
def test_an_unreadable_page_is_reported_as_malformed(data: Any) -> None:
    with pytest.raises(yt.MalformedResponse):
        threads(data)


def test_malformed_items_are_skipped_and_counted_without_losing_the_others() -> None:
    good = thread("Ugx1", "2026-11-20T10:00:00Z")
    no_time = thread("Ugx2", "2026-11-20T10:00:00Z")
    del no_time["snippet"]["topLevelComment"]["snippet"]["publishedAt"]
    no_text = thread("Ugx3", "2026-11-20T10:00:00Z")
    del no_text["snippet"]["topLevelComment"]["snippet"]["textOriginal"]
    del no_text["snippet"]["topLevelComment"]["snippet"]["textDisplay"]
    bad_reply = thread("Ugx4", "2026-11-20T10:00:00Z", replies=1)
    bad_reply["replies"]["comments"][0]["snippet"] = "oops"
    items: list[Any] = [1, None, {}, {"snippet": []}, {"snippet": {"topLevelComment": {"id": 3}}}]

    result = threads(page(*items, no_time, no_text, bad_reply, good))

    assert sorted(c.comment_id for c in result.comments) == ["Ugx1", "Ugx4"]
    assert result.skipped == len(items) + 3


def test_text_that_is_not_valid_utf8_is_repaired_so_the_event_serialises() -> None:
    item = thread("Ugx1", "2026-11-20T10:00:00Z", text="bad \ud800 text")

    (comment,) = threads(page(item)).comments

    assert comment.text == "bad \ufffd text"
    assert comment.model_dump_json()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "items",
                    "snippet",
                    "topLevelComment",
                    "replies",
                    "comments",
                    "textOriginal",
                    "textDisplay",
                    "publishedAt",
                    "updatedAt",
                    "authorChannelId",
                    "value",
                    "parentId",
                    "totalReplyCount",
                    "nextPageToken",
                    "authorDisplayName",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=_json)
def test_any_json_yields_a_page_or_malformed_never_another_error(data: Any) -> None:
    for parse in (threads, replies):
        try:
            result = parse(data)
        except yt.MalformedResponse:
            continue
        for comment in result.comments:
            assert comment.model_dump_json()


_STEPS = st.sampled_from(["items", 0, "snippet", "topLevelComment", "replies", "comments"])


@settings(max_examples=200, deadline=None)
@given(path=st.lists(_STEPS, max_size=5), value=_json)
def test_a_documented_page_with_a_part_replaced_never_crashes(path: list[Any], value: Any) -> None:
    data = fixture("comment_threads_with_replies")
    target = data
    try:
        for step in path[:-1]:
            target = target[step]
        if path:
            target[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        return
    with contextlib.suppress(yt.MalformedResponse):
        threads(data)


# --- poll runs: paging, backfill, replies ------------------------------------------------


def run_for(cursor: yt.Cursor, *, max_pages: int = 10) -> yt.PollRun:
    return yt.PollRun(
        cursor, video_id=VIDEO, channel_id=CHANNEL, max_pages=max_pages, received_at=NOW
    )


def drive(run: yt.PollRun, pages: dict[Any, Any]) -> tuple[list[Comment], list[yt.ApiCall]]:
    """Answer every call from ``pages`` (keyed by pageToken, or by (parentId, pageToken))."""
    comments: list[Comment] = []
    calls: list[yt.ApiCall] = []
    while (call := run.next_call()) is not None:
        calls.append(call)
        token = call.params.get("pageToken")
        key: Any = token if call.resource == yt.THREADS else (call.thread_id, token)
        comments.extend(run.feed(pages[key]))
    return comments, calls


def test_a_first_poll_reads_the_newest_page_with_the_documented_parameters() -> None:
    run = run_for(yt.Cursor())

    call = run.next_call()

    assert call is not None and call.resource == "commentThreads"
    assert dict(call.params) == {
        "part": "snippet,replies",
        "videoId": VIDEO,
        "order": "time",
        "maxResults": "100",
        "textFormat": "plainText",
    }
    comments = run.feed(fixture("comment_threads_with_replies"))
    assert len(comments) == 6
    assert run.next_call() is None and run.caught_up
    assert run.cursor().watermark == at("2019-07-20T20:22:27")


BACKLOG = {
    None: page(
        thread("n6", "2026-11-21T11:00:00Z"),
        thread("n5", "2026-11-21T10:00:00Z"),
        token="p2",
    ),
    "p2": page(
        thread("n4", "2026-11-21T09:00:00Z"),
        thread("n3", "2026-11-21T08:00:00Z"),
        token="p3",
    ),
    "p3": page(
        thread("n2", "2026-11-21T07:00:00Z"),
        thread("n1", "2026-11-21T06:00:00Z"),
        token="p4",
    ),
    "p4": page(
        thread("old2", "2026-11-20T10:00:00Z"),
        thread("old1", "2026-11-20T09:00:00Z"),
        token="p5",
    ),
}
WATERMARK = at("2026-11-20T10:00:00")


def test_after_a_downtime_the_poll_pages_back_until_it_meets_the_cursor() -> None:
    run = run_for(yt.Cursor(watermark=WATERMARK))

    comments, calls = drive(run, BACKLOG)

    assert [c.params.get("pageToken") for c in calls] == [None, "p2", "p3", "p4"]  # not p5
    assert {c.comment_id for c in comments} >= {"n1", "n2", "n3", "n4", "n5", "n6"}
    assert run.caught_up
    cursor = run.cursor()
    assert cursor.watermark == at("2026-11-21T11:00:00")
    assert not cursor.backfilling


def test_a_backfill_longer_than_the_page_bound_resumes_at_the_next_poll() -> None:
    first = run_for(yt.Cursor(watermark=WATERMARK), max_pages=2)

    comments, calls = drive(first, BACKLOG)

    assert len(calls) == 2 and not first.caught_up
    halfway = first.cursor()
    assert halfway.watermark == WATERMARK  # not moved before the gap is read
    assert halfway.resume_token == "p3"
    assert halfway.resume_newest == at("2026-11-21T11:00:00")

    second = run_for(yt.Cursor.from_json(halfway.to_json()), max_pages=2)
    more, calls = drive(second, BACKLOG)

    assert [c.params.get("pageToken") for c in calls] == ["p3", "p4"]
    assert {c.comment_id for c in comments + more} >= {"n1", "n2", "n3", "n4", "n5", "n6"}
    done = second.cursor()
    assert done.watermark == at("2026-11-21T11:00:00")
    assert not done.backfilling

    third = run_for(done)
    _, calls = drive(third, BACKLOG)
    assert [c.params.get("pageToken") for c in calls] == [None]  # caught up: newest page only


def test_a_failure_mid_backfill_keeps_what_was_read_and_resumes_after_it() -> None:
    run = run_for(yt.Cursor(watermark=WATERMARK))
    assert run.next_call() is not None
    run.feed(BACKLOG[None])
    assert run.next_call() is not None  # p2 fails: never fed

    cursor = run.cursor()

    assert cursor.watermark == WATERMARK
    assert cursor.resume_token == "p2"
    assert cursor.resume_newest == at("2026-11-21T11:00:00")


def test_a_failure_on_the_first_call_changes_nothing() -> None:
    start = yt.Cursor(watermark=WATERMARK, failures=2)
    run = run_for(start)
    assert run.next_call() is not None

    assert run.cursor() == start


def test_a_malformed_page_leaves_the_run_where_it_was() -> None:
    run = run_for(yt.Cursor(watermark=WATERMARK))
    call = run.next_call()
    assert call is not None

    with pytest.raises(yt.MalformedResponse):
        run.feed({"items": "not a list"})

    assert run.pages == 0
    assert run.cursor() == yt.Cursor(watermark=WATERMARK)


def test_an_edit_on_the_newest_page_is_seen_even_below_the_cursor() -> None:
    run = run_for(yt.Cursor(watermark=at("2026-01-01T00:00:00")))

    comments, calls = drive(run, {None: fixture("comment_threads_edited")})

    assert len(calls) == 1
    assert [c.kind for c in comments] == [CommentKind.CREATED, CommentKind.EDITED]


REPLIES = {
    None: fixture("comment_threads_more_replies"),
    ("Ugw5zYU6n9pmIgAZWvN4AaABAg", None): fixture("comments_replies_page_1"),
    (
        "Ugw5zYU6n9pmIgAZWvN4AaABAg",
        fixture("comments_replies_page_1")["nextPageToken"],
    ): fixture("comments_replies_page_2"),
}


def test_replies_beyond_the_embedded_ones_are_listed_once_per_change() -> None:
    run = run_for(yt.Cursor())

    comments, calls = drive(run, REPLIES)

    assert [c.resource for c in calls] == ["commentThreads", "comments", "comments"]
    assert dict(calls[1].params) == {
        "part": "snippet",
        "parentId": "Ugw5zYU6n9pmIgAZWvN4AaABAg",
        "maxResults": "100",
        "textFormat": "plainText",
    }
    replies = [c for c in comments if c.parent_id is not None]
    assert len(replies) == 3
    assert {c.thread_id for c in replies} == {"Ugw5zYU6n9pmIgAZWvN4AaABAg"}
    cursor = run.cursor()
    assert cursor.reply_counts == {"Ugw5zYU6n9pmIgAZWvN4AaABAg": 3}

    _, calls = drive(run_for(cursor), REPLIES)
    assert [c.resource for c in calls] == ["commentThreads"]  # same count: nothing to list

    grown = copy.deepcopy(REPLIES)
    grown[None]["items"][0]["snippet"]["totalReplyCount"] = 4
    _, calls = drive(run_for(cursor), grown)
    assert [c.resource for c in calls] == ["commentThreads", "comments", "comments"]


def test_replies_cut_by_the_page_bound_continue_at_the_next_poll() -> None:
    run = run_for(yt.Cursor(), max_pages=2)

    _, calls = drive(run, REPLIES)

    assert [c.resource for c in calls] == ["commentThreads", "comments"]
    assert not run.caught_up
    cursor = run.cursor()
    assert cursor.pending_replies == (("Ugw5zYU6n9pmIgAZWvN4AaABAg", 3),)
    assert cursor.reply_token == fixture("comments_replies_page_1")["nextPageToken"]

    second = run_for(yt.Cursor.from_json(cursor.to_json()), max_pages=2)
    comments, calls = drive(second, REPLIES)

    assert [c.resource for c in calls] == ["commentThreads", "comments"]
    assert calls[1].params["pageToken"] == cursor.reply_token
    assert [c.text for c in comments if c.parent_id] == ["hey, this is the replay"]
    assert second.caught_up
    assert second.cursor().pending_replies == ()


def test_a_cursor_survives_its_json_round_trip() -> None:
    cursor = yt.Cursor(
        watermark=at("2026-11-21T11:00:00"),
        resume_token="p3",
        resume_newest=at("2026-11-21T11:30:00"),
        pending_replies=(("t1", 7),),
        reply_token="r2",
        reply_counts={"t0": 3},
        failures=2,
    )

    assert yt.Cursor.from_json(json.loads(json.dumps(cursor.to_json()))) == cursor
    assert cursor.without_tokens() == yt.Cursor(
        watermark=cursor.watermark, pending_replies=(("t1", 7),), reply_counts={"t0": 3}, failures=2
    )


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "not json",
        [],
        {},
        {"watermark": 5, "resume_token": 3, "pending_replies": "x", "reply_counts": [1]},
        {"failures": "many", "pending_replies": [[1, 2], ["t", "x"]], "reply_counts": {"": 1}},
    ],
)
def test_an_unreadable_cursor_falls_back_to_defaults(stored: Any) -> None:
    cursor = yt.Cursor.from_json(stored)

    assert cursor.watermark is None and cursor.resume_token is None
    assert cursor.failures == 0
    assert all(thread_id for thread_id, _ in cursor.pending_replies)


# --- pacing ------------------------------------------------------------------------------


def test_the_bucket_spends_what_it_saved_then_refills_at_its_rate() -> None:
    bucket = yt.TokenBucket(rate=1.0, capacity=3.0, now=0.0)

    assert [bucket.take(1, 0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s(1, 0.0) == pytest.approx(1.0)
    assert bucket.take(1, 1.0)
    assert not bucket.take(1, 1.5)
    assert bucket.available(100.0) == 3.0  # never more than its capacity
    bucket.drain(100.0)
    assert not bucket.take(1, 100.0)


def test_the_bucket_spreads_the_daily_quota_over_the_day() -> None:
    bucket = yt.TokenBucket.for_quota(10_000, now=0.0)

    assert bucket.rate == pytest.approx(10_000 / 86_400)
    assert bucket.capacity == pytest.approx(10_000 / 86_400 * 900)
    spent = 0
    for second in range(86_400):
        while bucket.take(1, float(second)):
            spent += 1
    assert spent <= 10_000 + bucket.capacity


@pytest.mark.parametrize(
    ("tracked", "expected_s"),
    [(0, 300.0), (10, 300.0), (27, 300.0), (100, 1080.0), (1000, 10_800.0)],
)
def test_the_poll_interval_stretches_when_the_videos_would_exceed_the_quota(
    tracked: int, expected_s: float
) -> None:
    assert yt.poll_interval_s(300.0, tracked, 10_000) == pytest.approx(expected_s)


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        ("2026-11-21T15:00:00", "2026-11-22T08:00:00"),  # PST: midnight is 08:00 UTC
        ("2026-11-22T07:59:59", "2026-11-22T08:00:00"),
        ("2026-11-22T08:00:00", "2026-11-23T08:00:00"),
        ("2026-07-01T12:00:00", "2026-07-02T07:00:00"),  # PDT: 07:00 UTC
    ],
)
def test_the_quota_resets_at_midnight_pacific_time(now: str, reset: str) -> None:
    assert yt.quota_resets_at(at(now)) == at(reset)


def test_retries_back_off_from_thirty_seconds_to_an_hour() -> None:
    assert [yt.retry_backoff(n).total_seconds() for n in (1, 2, 3, 7, 8, 50)] == [
        30,
        60,
        120,
        1920,
        3600,
        3600,
    ]


# --- error decisions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name", "action", "outcome"),
    [
        (403, "error_quota_exceeded", yt.Action.PAUSE, "quota_exceeded"),
        (403, "error_comments_disabled", yt.Action.STOP, "comments_disabled"),
        (404, "error_video_not_found", yt.Action.STOP, "not_found"),
        (400, "error_key_invalid", yt.Action.PAUSE, "key_rejected"),
        (400, "error_invalid_page_token", yt.Action.RESTART, "invalid_page_token"),
    ],
)
def test_documented_errors_become_decisions(
    status: int, name: str, action: yt.Action, outcome: str
) -> None:
    decision = yt.decide(status, body(name), now=NOW, failures=1)

    assert (decision.action, decision.outcome) == (action, outcome)


def test_an_exhausted_quota_pauses_until_it_resets() -> None:
    decision = yt.decide(403, body("error_quota_exceeded"), now=NOW, failures=1)

    assert decision.until == yt.quota_resets_at(NOW) == at("2026-11-22T08:00:00")


@pytest.mark.parametrize(
    ("status", "payload", "action", "outcome"),
    [
        (None, b"", yt.Action.RETRY, "network_error"),
        (500, b"", yt.Action.RETRY, "server_error"),
        (503, b"<html>unavailable</html>", yt.Action.RETRY, "server_error"),
        (429, b"", yt.Action.RETRY, "rate_limited"),
        (
            403,
            b'{"error": {"errors": [{"reason": "rateLimitExceeded"}]}}',
            yt.Action.RETRY,
            "rate_limited",
        ),
        (
            400,
            b'{"error": {"errors": [{"reason": "invalidParameter"}]}}',
            yt.Action.STOP,
            "bad_request",
        ),
        (400, b"not json", yt.Action.STOP, "bad_request"),
        (403, b'{"error": {"errors": [{"reason": "forbidden"}]}}', yt.Action.STOP, "forbidden"),
        (
            403,
            b'{"error": {"code": 403, "details": [{"reason": "API_KEY_SERVICE_BLOCKED"}]}}',
            yt.Action.PAUSE,
            "key_rejected",
        ),
        (410, b"", yt.Action.STOP, "client_error"),
        (302, b"", yt.Action.RETRY, "unexpected_status"),
    ],
)
def test_other_failures_become_decisions(
    status: int | None, payload: bytes, action: yt.Action, outcome: str
) -> None:
    decision = yt.decide(status, payload, now=NOW, failures=3)

    assert (decision.action, decision.outcome) == (action, outcome)
    if action is yt.Action.RETRY:
        assert decision.until == NOW + timedelta(seconds=120)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"[]",
        b"null",
        b'{"error": "x"}',
        b'{"error": {"errors": "x"}}',
        b"[" * 100_000,
        b"\xff",
    ],
)
def test_reasons_of_an_unreadable_error_body_are_empty(payload: bytes) -> None:
    assert yt.error_reasons(payload) == frozenset()


def test_reasons_come_from_errors_and_details() -> None:
    assert yt.error_reasons(body("error_quota_exceeded")) == {"quotaExceeded"}


# --- the poller on the in-memory bus and SQLite ------------------------------------------


@dataclass
class FakeApi:
    """The Data API as a mock transport: answers by (resource, parentId, pageToken)."""

    routes: dict[tuple[str, str | None, str | None], tuple[int, bytes]] = field(
        default_factory=dict
    )
    requests: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        route = (
            request.url.path.rsplit("/", 1)[-1],
            params.get("parentId"),
            params.get("pageToken"),
        )
        status, content = self.routes.get(route, (404, body("error_video_not_found")))
        return httpx.Response(status, content=content)

    def serve(
        self,
        status: int,
        content: Any,
        *,
        resource: str = "commentThreads",
        parent: str | None = None,
        token: str | None = None,
    ) -> None:
        raw = content if isinstance(content, bytes) else json.dumps(content).encode()
        self.routes[(resource, parent, token)] = (status, raw)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FlakyBus(MemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def publish(self, messages: Sequence[Message], *, on_acked: Acked | None = None) -> None:
        if self.down and any(m.topic in COMMENT_TOPICS for m in messages):
            raise BusUnavailable("broker down")
        await super().publish(messages, on_acked=on_acked)


@dataclass
class Harness:
    poller: YouTubePoller
    bus: FlakyBus
    api: FakeApi
    clock: Clock
    runtime: Runtime

    def published(self) -> list[Comment]:
        return [Comment.model_validate_json(r.value) for r in self.records()]

    def records(self) -> list[Record]:
        return [r for topic in COMMENT_TOPICS for r in self.bus.records(topic)]

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.runtime.registry.get_sample_value(name, labels or {})

    async def ping(self, video: str = VIDEO) -> None:
        change = SourceChanged(
            event_id=derive_id("change", video),
            trace_id="t",
            occurred_at=self.clock.now,
            platform="youtube",
            source=CHANNEL,
            item_id=video,
        )
        await self.bus.publish([to_message(SOURCE_CHANGES, change, key=video)])
        for _ in range(200):
            if await self.row(video) is not None:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the change notice was not tracked")

    async def row(self, video: str = VIDEO) -> Any:
        async with self.runtime.engine.connect() as conn:
            result = await conn.execute(
                select(youtube_cursors).where(youtube_cursors.c.video_id == video)
            )
            return result.first()


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[Harness]:
    bus, api, clock = FlakyBus(), FakeApi(), Clock(NOW)
    runtime = Runtime(
        bus=bus, engine=create_engine(db_url), registry=CollectorRegistry(), clock=clock
    )
    settings = IngestSettings(
        youtube_api_key=SecretStr("test-key"), youtube_api_url="https://yt.test/youtube/v3"
    )
    poller = YouTubePoller(settings, autopoll=False, transport=httpx.MockTransport(api.handler))
    await poller.start(runtime)
    try:
        yield Harness(poller, bus, api, clock, runtime)
    finally:
        await poller.stop()
        await runtime.engine.dispose()


async def test_without_an_api_key_the_poller_stays_idle(db_url: str) -> None:
    bus = MemoryBus()
    runtime = Runtime(bus=bus, engine=create_engine(db_url))
    poller = YouTubePoller(IngestSettings())

    await poller.start(runtime)
    try:
        assert poller.ready()
        assert await poller.poll_once() == 0
        assert [r for t in COMMENT_TOPICS for r in bus.records(t)] == []
    finally:
        await poller.stop()
        await runtime.engine.dispose()


async def test_a_ping_is_polled_at_once_and_each_comment_published_once(harness: Harness) -> None:
    harness.api.serve(200, fixture("comment_threads_with_replies"))

    await harness.ping()
    row = await harness.row()
    assert row.next_poll_at.replace(tzinfo=UTC) == NOW
    assert row.tracked_until.replace(tzinfo=UTC) == NOW + timedelta(days=14)
    assert harness.poller.ready()

    assert await harness.poller.poll_once() == 6
    request = harness.api.requests[0]
    assert request.url.path == "/youtube/v3/commentThreads"
    assert request.url.params["key"] == "test-key"
    assert request.url.params["videoId"] == VIDEO
    published = harness.published()
    assert len(published) == 6
    assert all(
        r.key == f"youtube:{c.thread_id}".encode()
        for r, c in zip(harness.records(), published, strict=True)
    )

    harness.clock.now = NOW + timedelta(seconds=300)
    assert await harness.poller.poll_once() == 0  # same page again: nothing new
    assert len(harness.published()) == 6
    assert harness.metric("vigie_youtube_polls_total", {"outcome": "ok"}) == 2
    assert harness.metric("vigie_youtube_quota_units_total", {"method": "commentThreads"}) == 2
    assert harness.metric("vigie_youtube_videos_tracked") == 1
    assert harness.metric("vigie_youtube_comments_published_total", {"kind": "created"}) == 6


async def test_the_api_key_never_reaches_the_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.api.serve(200, fixture("comment_threads_with_replies"))
    await harness.ping()

    with caplog.at_level("DEBUG"):
        assert await harness.poller.poll_once() == 6

    assert "/youtube/v3/commentThreads" in caplog.text  # httpx logged the request...
    assert "test-key" not in caplog.text  # ...without the key


async def test_a_video_is_not_polled_before_its_interval(harness: Harness) -> None:
    harness.api.serve(200, fixture("comment_threads_with_replies"))
    await harness.ping()
    await harness.poller.poll_once()

    harness.clock.now = NOW + timedelta(seconds=299)
    await harness.poller.poll_once()

    assert len(harness.api.requests) == 1


async def test_comments_wait_for_the_broker_and_the_cursor_waits_for_them(
    harness: Harness,
) -> None:
    harness.api.serve(200, fixture("comment_threads_with_replies"))
    await harness.ping()
    harness.bus.down = True

    with pytest.raises(BusUnavailable):
        await harness.poller.poll_once()

    row = await harness.row()
    assert yt.Cursor.from_json(row.cursor) == yt.Cursor()
    assert row.next_poll_at.replace(tzinfo=UTC) == NOW  # still due
    harness.bus.down = False
    assert await harness.poller.poll_once() == 6


async def test_disabled_comments_stop_the_tracking_of_the_video(harness: Harness) -> None:
    harness.api.serve(403, body("error_comments_disabled"))
    await harness.ping()

    assert await harness.poller.poll_once() == 0
    harness.clock.now = NOW + timedelta(hours=1)
    await harness.poller.poll_once()

    assert len(harness.api.requests) == 1
    assert harness.metric("vigie_youtube_polls_total", {"outcome": "comments_disabled"}) == 1


async def test_an_exhausted_quota_pauses_every_poll_until_it_resets(harness: Harness) -> None:
    harness.api.serve(403, body("error_quota_exceeded"))
    await harness.ping()
    await harness.ping("other-video")

    await harness.poller.poll_once()

    assert len(harness.api.requests) == 1  # the other video is not even tried
    assert harness.poller.paused_until == at("2026-11-22T08:00:00")
    harness.clock.now = at("2026-11-22T07:59:00")
    await harness.poller.poll_once()
    assert len(harness.api.requests) == 1


async def test_an_unreadable_answer_is_skipped_and_retried_later(harness: Harness) -> None:
    harness.api.serve(200, b"<html>a proxy's page</html>")
    await harness.ping()

    assert await harness.poller.poll_once() == 0

    assert harness.metric("vigie_youtube_malformed_total", {"what": "page"}) == 1
    row = await harness.row()
    assert row.next_poll_at.replace(tzinfo=UTC) == NOW + timedelta(seconds=30)
    assert yt.Cursor.from_json(row.cursor).failures == 1
    harness.api.serve(200, fixture("comment_threads_with_replies"))
    harness.clock.now = NOW + timedelta(seconds=30)
    assert await harness.poller.poll_once() == 6


async def test_a_network_failure_is_retried_and_the_key_never_logged(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    bus, clock = FlakyBus(), Clock(NOW)
    runtime = Runtime(bus=bus, engine=create_engine(db_url), clock=clock)
    settings = IngestSettings(youtube_api_key=SecretStr("secret-key-value"))
    poller = YouTubePoller(settings, autopoll=False, transport=httpx.MockTransport(refuse))
    await poller.start(runtime)
    try:
        harness = Harness(poller, bus, FakeApi(), clock, runtime)
        await harness.ping()
        with caplog.at_level("DEBUG"):
            assert await poller.poll_once() == 0
        assert harness.metric("vigie_youtube_polls_total", {"outcome": "network_error"}) == 1
        assert "secret-key-value" not in caplog.text
    finally:
        await poller.stop()
        await runtime.engine.dispose()
