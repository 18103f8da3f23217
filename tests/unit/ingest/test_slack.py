"""Slack Events API: signature with replay window, url_verification, message normalisation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from services.ingest import signature
from services.ingest.adapters import slack
from services.ingest.adapters.base import (
    NO_SOURCE,
    Adapter,
    Context,
    InboundRequest,
    Parsed,
    PayloadError,
    Rejected,
    Verdict,
)
from services.ingest.adapters.slack import SlackAdapter, platform_headers
from services.ingest.settings import IngestSettings
from shared.events import CommentKind, derive_id
from tests import webhook_fixtures
from tests.unit import factories as f

OLD, NEW = b"old-signing-secret", b"new-signing-secret"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CONTEXT = Context(received_at=f.NOW, delivery_id="Ev1", trace_id="t-1")
FIXTURES = webhook_fixtures.load("slack")


def adapter(secret: str | None = "old-signing-secret", window_s: int = 300) -> SlackAdapter:
    return SlackAdapter(
        IngestSettings(
            slack_signing_secret=SecretStr(secret) if secret is not None else None,
            slack_replay_window_s=window_s,
        )
    )


def callback(event: Any, **envelope: Any) -> dict[str, Any]:
    return {
        "token": "XXYYZZ",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": "Ev1",
        "event_time": 1355517523,
        "event": event,
        **envelope,
    }


MESSAGE: dict[str, Any] = {
    "type": "message",
    "channel": "C1",
    "user": "U1",
    "text": "Bonjour",
    "ts": "1355517523.000005",
}


def parse(data: Any) -> Parsed:
    return slack.parse(json.dumps(data).encode(), CONTEXT)


def request(body: bytes, headers: dict[str, str]) -> InboundRequest:
    return InboundRequest(body=body, headers={"content-type": "application/json", **headers})


@pytest.mark.parametrize("fixture", FIXTURES, ids=[fx.id for fx in FIXTURES])
def test_every_fixture_parses_as_documented(fixture: webhook_fixtures.Fixture) -> None:
    parsed = adapter().parse(fixture.request(), CONTEXT)

    webhook_fixtures.assert_matches(parsed, fixture.expect)


def test_the_corpus_covers_create_reply_edit_delete_and_non_comments() -> None:
    kinds = {c["kind"] for fx in FIXTURES for c in fx.expect.get("comments", [])}
    replies = [c for fx in FIXTURES for c in fx.expect.get("comments", []) if c.get("parent_id")]

    assert kinds == {"created", "edited", "deleted"}
    assert replies
    assert any(fx.expect.get("ignored") for fx in FIXTURES)
    assert all(fx.origin for fx in FIXTURES)


# --- signature -------------------------------------------------------------------------------


def signed(body: bytes, secret: bytes = OLD, at: datetime = NOW) -> InboundRequest:
    return request(body, platform_headers(body, secret, at))


BODY = json.dumps(callback(MESSAGE)).encode()


def test_platform_headers_sign_version_timestamp_and_body() -> None:
    headers = platform_headers(BODY, OLD, NOW)

    assert headers["x-slack-request-timestamp"] == str(int(NOW.timestamp()))
    base = f"v0:{int(NOW.timestamp())}:".encode() + BODY
    assert headers["x-slack-signature"] == signature.sign(OLD, base, prefix="v0=")


def test_a_signed_request_is_valid() -> None:
    assert adapter().verify(signed(BODY), NOW) is Verdict.VALID


def test_the_rotated_secret_verifies_during_a_rotation() -> None:
    both = adapter("old-signing-secret, new-signing-secret")

    assert both.verify(signed(BODY, NEW), NOW) is Verdict.VALID
    assert both.verify(signed(BODY, OLD), NOW) is Verdict.VALID
    assert adapter("new-signing-secret").verify(signed(BODY, OLD), NOW) is Verdict.MISMATCH


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: request(r.body + b" ", dict(r.headers)),
        lambda r: request(
            r.body, {**r.headers, "x-slack-request-timestamp": str(int(NOW.timestamp()) + 1)}
        ),
        lambda r: request(r.body, {**r.headers, "x-slack-signature": "v0=" + "0" * 64}),
    ],
    ids=["body", "timestamp", "signature"],
)
def test_a_tampered_request_does_not_match(tamper: Any) -> None:
    assert adapter().verify(tamper(signed(BODY)), NOW) is Verdict.MISMATCH


def test_a_request_signed_with_another_secret_does_not_match() -> None:
    assert adapter().verify(signed(BODY, b"someone-else"), NOW) is Verdict.MISMATCH


@pytest.mark.parametrize(
    ("headers", "verdict"),
    [
        ({}, Verdict.MISSING),
        ({"x-slack-request-timestamp": "1"}, Verdict.MISSING),
        ({"x-slack-signature": ""}, Verdict.MISSING),
        ({"x-slack-signature": "v0=" + "0" * 64}, Verdict.MISSING),
        ({"x-slack-signature": "v0=" + "0" * 64, "x-slack-request-timestamp": "now"}, None),
        ({"x-slack-signature": "v0=" + "0" * 64, "x-slack-request-timestamp": "-5"}, None),
        ({"x-slack-signature": "v0=" + "0" * 64, "x-slack-request-timestamp": "1.5"}, None),
        ({"x-slack-signature": "v0=" + "0" * 64, "x-slack-request-timestamp": "9" * 40}, None),
        ({"x-slack-signature": "v0=" + "0" * 64, "x-slack-request-timestamp": ""}, None),
        ({"x-slack-signature": "sha256=" + "0" * 64, "x-slack-request-timestamp": "1"}, None),
        ({"x-slack-signature": "v0=abc", "x-slack-request-timestamp": "1"}, None),
    ],
    ids=[
        "no-headers",
        "no-signature",
        "empty-signature",
        "no-timestamp",
        "timestamp-word",
        "timestamp-negative",
        "timestamp-fraction",
        "timestamp-huge",
        "timestamp-empty",
        "other-prefix",
        "short-digest",
    ],
)
def test_missing_and_malformed_signing_headers(
    headers: dict[str, str], verdict: Verdict | None
) -> None:
    expected = verdict or Verdict.MALFORMED

    assert adapter().verify(request(BODY, headers), NOW) is expected


@pytest.mark.parametrize(
    ("offset_s", "verdict"),
    [
        (0, Verdict.VALID),
        (-300, Verdict.VALID),
        (300, Verdict.VALID),
        (-301, Verdict.STALE),
        (301, Verdict.STALE),
        (-86_400, Verdict.STALE),
    ],
)
def test_the_signed_timestamp_must_be_within_the_replay_window(
    offset_s: int, verdict: Verdict
) -> None:
    sent_at = NOW + timedelta(seconds=offset_s)

    assert adapter(window_s=300).verify(signed(BODY, at=sent_at), NOW) is verdict


def test_the_replay_window_is_a_setting() -> None:
    old = signed(BODY, at=NOW - timedelta(seconds=400))

    assert adapter(window_s=600).verify(old, NOW) is Verdict.VALID
    assert adapter(window_s=60).verify(old, NOW) is Verdict.STALE


def test_a_forged_old_request_is_a_mismatch_not_a_replay() -> None:
    forged = signed(BODY, b"someone-else", at=NOW - timedelta(days=1))

    assert adapter().verify(forged, NOW) is Verdict.MISMATCH


def test_a_naive_now_is_taken_as_utc() -> None:
    assert adapter().verify(signed(BODY), NOW.replace(tzinfo=None)) is Verdict.VALID


def test_without_a_secret_nothing_verifies() -> None:
    unconfigured = adapter(None)

    assert unconfigured.configured() is False
    assert adapter().configured() is True
    assert unconfigured.verify(signed(BODY), NOW) is Verdict.MISMATCH


# --- route, handshake, delivery id --------------------------------------------------------------


def test_the_route_and_the_absence_of_a_get_handshake() -> None:
    a: Adapter = adapter()

    assert (a.platform, a.path, a.secret_setting, a.signature_header) == (
        "slack",
        "/webhooks/slack",
        "VIGIE_SLACK_SIGNING_SECRET",
        "X-Slack-Signature",
    )
    assert a.route_source(request(BODY, {})) == NO_SOURCE
    with pytest.raises(Rejected) as caught:
        a.handshake(InboundRequest(body=b"", query={"challenge": "x"}))
    assert (caught.value.status, caught.value.outcome) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    ("body", "delivery"),
    [
        (BODY, "Ev1"),
        (json.dumps(callback(MESSAGE, event_id="Ev08MFMKH6")).encode(), "Ev08MFMKH6"),
        (json.dumps({"type": "url_verification", "challenge": "c"}).encode(), None),
        (json.dumps(callback(MESSAGE, event_id=12)).encode(), None),
        (json.dumps(callback(MESSAGE, event_id=None)).encode(), None),
        (json.dumps(callback(MESSAGE, event_id="Ev 1/../x")).encode(), None),
        (json.dumps(callback(MESSAGE, event_id="E" * 129)).encode(), None),
        (b"not json", None),
        (b"[1, 2]", None),
    ],
    ids=["event", "other", "challenge", "int", "null", "unsafe", "too-long", "bad-json", "list"],
)
def test_the_delivery_id_is_the_event_id(body: bytes, delivery: str | None) -> None:
    assert adapter().delivery_id(request(body, {})) == delivery


def test_a_retry_produces_the_same_events() -> None:
    first = adapter().parse(request(BODY, {}), CONTEXT)
    retry = adapter().parse(
        request(BODY, {"x-slack-retry-num": "2", "x-slack-retry-reason": "http_timeout"}),
        Context(received_at=NOW, delivery_id="Ev1", trace_id="t-2"),
    )

    assert [c.event_id for c in retry.comments] == [c.event_id for c in first.comments]
    assert first.comments[0].event_id == derive_id("comment", "slack", "C1:1355517523.000005", "0")


# --- normalisation ---------------------------------------------------------------------------


def test_url_verification_answers_the_challenge_as_text() -> None:
    parsed = parse({"type": "url_verification", "challenge": "3eZbrw1a", "token": "t"})

    assert parsed.reply is not None
    assert (parsed.reply.status, parsed.reply.body, parsed.reply.media_type) == (
        200,
        b"3eZbrw1a",
        "text/plain",
    )
    assert (parsed.comments, parsed.ignored) == ((), ())


def test_a_message_becomes_a_comment_of_its_own_thread() -> None:
    (comment,) = parse(callback(MESSAGE)).comments

    assert comment.platform == "slack"
    assert comment.source == "T1"
    assert comment.comment_id == comment.post_id == comment.thread_id == "C1:1355517523.000005"
    assert comment.parent_id is None
    assert (comment.kind, comment.revision) == (CommentKind.CREATED, 0)
    assert (comment.author.id, comment.text) == ("U1", "Bonjour")
    assert comment.created_at == datetime(2012, 12, 14, 20, 38, 43, 5, tzinfo=UTC)
    assert (comment.received_at, comment.delivery_id, comment.trace_id) == (f.NOW, "Ev1", "t-1")
    assert comment.url is None


def test_a_thread_reply_answers_the_thread_root() -> None:
    reply = {**MESSAGE, "ts": "1355517600.000100", "thread_ts": "1355517523.000005"}

    (comment,) = parse(callback(reply)).comments

    assert comment.parent_id == comment.post_id == comment.thread_id == "C1:1355517523.000005"
    assert comment.partition_key == "slack:C1:1355517523.000005"


def test_the_thread_root_itself_carries_thread_ts_but_is_top_level() -> None:
    root = {**MESSAGE, "thread_ts": MESSAGE["ts"], "reply_count": 3}

    (comment,) = parse(callback(root)).comments

    assert comment.parent_id is None
    assert comment.post_id == "C1:1355517523.000005"


def test_a_permalink_becomes_the_url() -> None:
    link = "https://acme.slack.com/archives/C1/p1355517523000005"

    (comment,) = parse(callback({**MESSAGE, "permalink": link})).comments
    (other,) = parse(callback({**MESSAGE, "permalink": "javascript:alert(1)"})).comments

    assert (comment.url, other.url) == (link, None)


def test_a_message_without_text_is_an_empty_comment() -> None:
    (comment,) = parse(callback({**MESSAGE, "text": None, "subtype": "file_share"})).comments

    assert comment.text == ""


def test_an_edit_of_a_reply_stays_in_its_thread_and_counts_edits_in_ms() -> None:
    event = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "ts": "1355518000.000001",
        "message": {
            **{k: v for k, v in MESSAGE.items() if k != "channel"},
            "ts": "1355517600.000100",
            "thread_ts": "1355517523.000005",
            "text": "Bonjour à tous",
            "edited": {"user": "U1", "ts": "1355517999.123456"},
        },
    }

    (comment,) = parse(callback(event)).comments

    assert (comment.kind, comment.revision) == (CommentKind.EDITED, 1355517999123)
    assert comment.comment_id == "C1:1355517600.000100"
    assert comment.parent_id == "C1:1355517523.000005"
    assert comment.text == "Bonjour à tous"
    assert comment.event_id == derive_id(
        "comment", "slack", "C1:1355517600.000100", "1355517999123"
    )


def test_a_delete_of_a_reply_stays_in_its_thread() -> None:
    event = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C1",
        "ts": "1355519000.000200",
        "deleted_ts": "1355517600.000100",
        "previous_message": {
            "user": "U1",
            "text": "Bonjour",
            "ts": "1355517600.000100",
            "thread_ts": "1355517523.000005",
        },
    }

    (comment,) = parse(callback(event)).comments

    assert (comment.kind, comment.revision) == (CommentKind.DELETED, 1355519000000)
    assert comment.parent_id == "C1:1355517523.000005"
    assert comment.author.id == "U1"
    assert comment.event_id == derive_id(
        "comment", "slack", "C1:1355517600.000100", "1355519000000", "deleted"
    )


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({**MESSAGE, "bot_id": "B1"}, "bot"),
        ({**MESSAGE, "subtype": "bot_message", "user": None}, "bot"),
        ({**MESSAGE, "subtype": "channel_join"}, "membership"),
        ({**MESSAGE, "subtype": "channel_leave"}, "membership"),
        ({**MESSAGE, "subtype": "group_join"}, "membership"),
        ({**MESSAGE, "subtype": "channel_topic", "topic": "x"}, "unsupported_subtype"),
        ({**MESSAGE, "subtype": "pinned_item"}, "unsupported_subtype"),
        ({**MESSAGE, "subtype": "message_replied", "hidden": True}, "message_replied"),
        ({"type": "message", "hidden": True, "channel": "C1", "ts": "1.0"}, "message_replied"),
        (
            {**MESSAGE, "subtype": "message_changed", "message": {**MESSAGE, "bot_id": "B1"}},
            "bot",
        ),
        (
            {
                **MESSAGE,
                "subtype": "message_deleted",
                "deleted_ts": "1.0",
                "previous_message": {"ts": "1.0", "bot_id": "B1", "text": "x"},
            },
            "bot",
        ),
        ({**MESSAGE, "type": "app_mention"}, "app_mention"),
        ({"type": "reaction_added", "user": "U1", "reaction": "+1"}, "reaction"),
        ({"type": "reaction_removed", "user": "U1", "reaction": "+1"}, "reaction"),
        ({"type": "member_joined_channel", "user": "U1", "channel": "C1"}, "membership"),
        ({"type": "team_join", "user": {"id": "U2"}}, "unsupported_event"),
    ],
    ids=[
        "bot-id",
        "bot-message",
        "channel-join",
        "channel-leave",
        "group-join",
        "channel-topic",
        "pinned",
        "message-replied",
        "hidden-without-subtype",
        "bot-edit",
        "bot-delete",
        "app-mention",
        "reaction-added",
        "reaction-removed",
        "member-joined",
        "other-event",
    ],
)
def test_items_that_are_not_comments_are_ignored_with_a_reason(
    event: dict[str, Any], reason: str
) -> None:
    parsed = parse(callback(event))

    assert parsed.comments == ()
    assert parsed.ignored == (reason,)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1}, "rate_limited"),
        ({"type": "something_new"}, "unsupported_type"),
    ],
)
def test_envelopes_that_are_not_event_callbacks_are_ignored(
    data: dict[str, Any], reason: str
) -> None:
    assert parse(data).ignored == (reason,)


def test_ignored_reasons_never_carry_input() -> None:
    event = {**MESSAGE, "subtype": "secret-customer-name"}

    assert parse(callback(event)).ignored == ("unsupported_subtype",)
    assert parse(callback({"type": "customer_x_event"})).ignored == ("unsupported_event",)


# --- bodies that cannot be read ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        [callback(MESSAGE)],
        "event_callback",
        None,
        {"type": None},
        {"type": 3},
        {"type": "url_verification"},
        {"type": "url_verification", "challenge": ""},
        {"type": "url_verification", "challenge": 7},
        {"type": "url_verification", "challenge": "c" * 1025},
        {**callback(MESSAGE), "team_id": None},
        {**callback(MESSAGE), "team_id": 12},
        {**callback(MESSAGE), "team_id": ""},
        {**callback(MESSAGE), "team_id": "T" * 200},
        {k: v for k, v in callback(MESSAGE).items() if k != "event"},
        callback([MESSAGE]),
        callback(None),
        callback({**MESSAGE, "type": None}),
        callback({k: v for k, v in MESSAGE.items() if k != "channel"}),
        callback({**MESSAGE, "channel": 5}),
        callback({**MESSAGE, "channel": "C" * 600}),
        callback({k: v for k, v in MESSAGE.items() if k != "ts"}),
        callback({**MESSAGE, "ts": 1355517523.000005}),
        callback({**MESSAGE, "ts": "yesterday"}),
        callback({**MESSAGE, "ts": "1" * 40}),
        callback({**MESSAGE, "ts": "1355517523.0000051"}),
        callback({**MESSAGE, "thread_ts": "x"}),
        callback({**MESSAGE, "thread_ts": 3}),
        callback({k: v for k, v in MESSAGE.items() if k != "user"}),
        callback({**MESSAGE, "user": ["U1"]}),
        callback({**MESSAGE, "text": {"rich": True}}),
        callback({**MESSAGE, "subtype": 4}),
        callback({**MESSAGE, "subtype": "message_changed", "message": None}),
        callback({**MESSAGE, "subtype": "message_changed", "message": {"text": "x"}}),
        callback(
            {
                **MESSAGE,
                "subtype": "message_changed",
                "message": {**MESSAGE, "edited": {"ts": "soon"}},
            }
        ),
        callback(
            {
                **MESSAGE,
                "subtype": "message_changed",
                "message": {"ts": "1.0", "edited": {"ts": "2.0"}},
            }
        ),
        callback({**MESSAGE, "subtype": "message_deleted"}),
        callback({**MESSAGE, "subtype": "message_deleted", "deleted_ts": ["1.0"]}),
        callback(
            {"type": "message", "subtype": "message_deleted", "channel": "C1", "deleted_ts": "1.0"}
        ),
    ],
)
def test_unreadable_bodies_are_payload_errors(data: Any) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(data)

    assert caught.value.reason


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe{}", b"NaN", b'{"type": "event_callback",'])
def test_bad_json_is_a_payload_error(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        slack.parse(raw, CONTEXT)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "type",
    "subtype",
    "channel",
    "user",
    "text",
    "ts",
    "thread_ts",
    "deleted_ts",
    "bot_id",
    "hidden",
    "message",
    "previous_message",
    "edited",
    "permalink",
]


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    event=st.fixed_dictionaries(
        {},
        optional={
            name: JSON | st.sampled_from(["message", "message_changed", "message_deleted", "1.5"])
            for name in FIELDS
        },
    ),
    team=JSON | st.just("T1"),
)
def test_any_shape_is_parsed_or_refused_with_a_payload_error(
    event: dict[str, Any], team: Any
) -> None:
    body = json.dumps(callback(event, team_id=team), allow_nan=True).encode()
    try:
        parsed = slack.parse(body, CONTEXT)
    except PayloadError:
        return
    assert len(parsed.comments) + len(parsed.ignored) == 1
