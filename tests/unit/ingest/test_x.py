"""X (Account Activity API): CRC, signatures, and what each delivery becomes."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from services.ingest.adapters import x
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
from services.ingest.settings import IngestSettings
from shared.events import CommentKind
from tests.unit import factories as f
from tests.webhook_fixtures import Fixture, assert_matches, load

OLD, NEW = "old-consumer-secret", "new-consumer-secret"
FIXTURES = load("x")
BRAND = "1114259648326987776"
CONTEXT = Context(received_at=f.NOW, delivery_id="d-1", trace_id="t-1")


def adapter(secret: str | None = f"{OLD},{NEW}") -> x.XAdapter:
    return x.XAdapter(IngestSettings(x_consumer_secret=SecretStr(secret) if secret else None))


def fixture(name: str) -> Fixture:
    return next(fx for fx in FIXTURES if fx.name == name)


def body_of(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture(name).body)
    return data


def parse(data: Any) -> Parsed:
    return x.parse(json.dumps(data).encode(), CONTEXT)


def tweet(**fields: Any) -> dict[str, Any]:
    """A reply by someone else to a post of the subscribed account."""
    base: dict[str, Any] = {
        "id_str": "1332557345071644672",
        "text": "@Learn_Awesome hello",
        "user": {"id_str": "1247048165561270272", "screen_name": "TanuLearns", "name": "Tanu"},
        "in_reply_to_status_id_str": "1332250000000000000",
        "in_reply_to_user_id_str": BRAND,
        "created_at": "Sat Nov 28 05:30:03 +0000 2020",
        "lang": "en",
    }
    base.update(fields)
    return base


def delivery(*tweets: dict[str, Any]) -> dict[str, Any]:
    return {"for_user_id": BRAND, "tweet_create_events": list(tweets)}


# The corpus.


def test_the_corpus_covers_comments_deletes_edits_batches_and_other_items() -> None:
    kinds = {c["kind"] for fx in FIXTURES for c in fx.expect.get("comments", [])}
    ignored = {r for fx in FIXTURES for r in fx.expect.get("ignored", [])}

    assert 6 <= len(FIXTURES) <= 12
    assert kinds == {"created", "edited", "deleted"}
    assert {"own_post", "retweet", "favorite", "direct_message"} <= ignored
    assert all(fx.origin for fx in FIXTURES)


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.id)
def test_every_fixture_is_signed_and_parsed_as_expected(fx: Fixture) -> None:
    subject = adapter()
    request = fx.request(x.platform_headers(fx.body, NEW.encode(), f.NOW))

    assert subject.verify(request, f.NOW) is Verdict.VALID
    assert subject.delivery_id(request) is None
    assert_matches(subject.parse(request, CONTEXT), fx.expect)


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.id)
def test_a_redelivery_yields_the_same_event_ids(fx: Fixture) -> None:
    later = Context(received_at=datetime.now(UTC), delivery_id="d-2", trace_id="t-2")

    first = x.parse(fx.body, CONTEXT)
    again = x.parse(fx.body, later)

    assert [c.event_id for c in first.comments] == [c.event_id for c in again.comments]
    assert first.ignored == again.ignored


# Route and settings.


def test_the_route_and_its_settings() -> None:
    subject: Adapter = adapter()

    assert (subject.platform, subject.path) == ("x", "/webhooks/x")
    assert subject.secret_setting == "VIGIE_X_CONSUMER_SECRET"
    assert subject.signature_header.lower() == x.SIGNATURE_HEADER == "x-twitter-webhooks-signature"
    assert subject.content_types == ("application/json",)
    assert subject.accepted_status == 200
    assert subject.route_source(InboundRequest(body=b"")) == NO_SOURCE
    assert subject.configured()
    assert not adapter(None).configured()


# CRC.


def crc(secret: str, token: str) -> str:
    digest = hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def test_the_crc_answers_with_the_current_secret_during_a_rotation() -> None:
    reply = adapter().handshake(InboundRequest(body=b"", query={"crc_token": "challenge-1"}))

    assert reply.status == 200
    assert reply.media_type == "application/json"
    assert json.loads(reply.body) == {"response_token": crc(OLD, "challenge-1")}
    assert json.loads(reply.body)["response_token"] != crc(NEW, "challenge-1")


@pytest.mark.parametrize("query", [{}, {"crc_token": ""}, {"other": "x"}])
def test_a_crc_without_token_is_a_bad_request(query: dict[str, str]) -> None:
    with pytest.raises(Rejected) as caught:
        adapter().handshake(InboundRequest(body=b"", query=query))

    assert (caught.value.status, caught.value.outcome) == (400, "bad_handshake")
    assert "crc_token" in caught.value.reason


def test_a_crc_token_that_is_not_text_is_a_bad_request() -> None:
    with pytest.raises(Rejected) as caught:
        adapter().handshake(InboundRequest(body=b"", query={"crc_token": "\udcff"}))

    assert caught.value.status == 400


def test_a_crc_without_secret_names_the_setting() -> None:
    with pytest.raises(Rejected) as caught:
        adapter(None).handshake(InboundRequest(body=b"", query={"crc_token": "c"}))

    assert (caught.value.status, caught.value.outcome) == (503, "no_secret")
    assert "VIGIE_X_CONSUMER_SECRET" in caught.value.reason


# Signatures.

BODY = json.dumps(delivery(tweet())).encode()


def signed(header: str | None, body: bytes = BODY) -> InboundRequest:
    headers = {} if header is None else {x.SIGNATURE_HEADER: header}
    return InboundRequest(body=body, headers=headers)


def b64_hmac(secret: str, body: bytes = BODY) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        (f"sha256={b64_hmac(OLD)}", Verdict.VALID),
        (f"sha256={b64_hmac(NEW)}", Verdict.VALID),
        (f"sha256={b64_hmac('someone-else')}", Verdict.MISMATCH),
        (None, Verdict.MISSING),
        ("", Verdict.MISSING),
        (b64_hmac(OLD), Verdict.MALFORMED),
        ("sha256=" + hmac.new(OLD.encode(), BODY, hashlib.sha256).hexdigest(), Verdict.MALFORMED),
        ("sha256=not base64!", Verdict.MALFORMED),
    ],
    ids=["current", "rotated", "other-secret", "missing", "empty", "no-prefix", "hex", "garbage"],
)
def test_signatures(header: str | None, verdict: Verdict) -> None:
    assert adapter().verify(signed(header), f.NOW) is verdict


def test_a_signature_of_another_body_does_not_match() -> None:
    header = x.platform_headers(BODY, OLD.encode(), f.NOW)[x.SIGNATURE_HEADER]

    assert adapter().verify(signed(header, BODY + b" "), f.NOW) is Verdict.MISMATCH


def test_without_a_configured_secret_nothing_verifies() -> None:
    header = x.platform_headers(BODY, OLD.encode(), f.NOW)[x.SIGNATURE_HEADER]

    assert adapter(None).verify(signed(header), f.NOW) is Verdict.MISMATCH


def test_the_signature_matches_the_reference_client_vectors() -> None:
    """xdevplatform/autohook test/signature.js, consumer secret ``test``."""
    body = b'{"test_number":1,"test_string":"two"}'
    header = "sha256=YWHphPn/JFq43jkF0y4/w8R/SelmLjvpunhVFY8JhlI="

    assert x.platform_headers(body, b"test", f.NOW) == {x.SIGNATURE_HEADER: header}
    assert adapter("test").verify(signed(header, body), f.NOW) is Verdict.VALID


# Normalisation.


def test_a_reply_to_the_accounts_post_is_a_top_level_comment_on_it() -> None:
    (comment,) = parse(delivery(tweet())).comments

    assert comment.platform == "x"
    assert comment.source == BRAND
    assert comment.kind is CommentKind.CREATED
    assert (comment.parent_id, comment.post_id) == (None, "1332250000000000000")
    assert comment.thread_id == comment.comment_id == "1332557345071644672"
    assert (comment.author.id, comment.author.name) == ("1247048165561270272", "Tanu")
    assert comment.created_at == datetime(2020, 11, 28, 5, 30, 3, tzinfo=UTC)


def test_a_reply_to_someone_elses_tweet_answers_that_tweet() -> None:
    (comment,) = parse(delivery(tweet(in_reply_to_user_id_str="42"))).comments

    assert comment.parent_id == comment.post_id == comment.thread_id == "1332250000000000000"


def test_a_standalone_mention_is_its_own_post() -> None:
    mention = tweet(in_reply_to_status_id_str=None, in_reply_to_user_id_str=None)

    (comment,) = parse(delivery(mention)).comments

    assert (comment.parent_id, comment.post_id) == (None, "1332557345071644672")


def test_the_numeric_ids_are_never_read() -> None:
    rounded = tweet(id=1332557345071644700, in_reply_to_status_id=1332250000000000000)

    (comment,) = parse(delivery(rounded)).comments

    assert comment.comment_id == "1332557345071644672"


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"id_str": None, "id": 1332557345071644672}, "tweet_create_events[0].id_str"),
        ({"user": {"id": 1247048165561270272}}, "tweet_create_events[0].user.id_str"),
    ],
    ids=["tweet", "user"],
)
def test_a_tweet_with_numeric_ids_only_is_refused(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(delivery(tweet(**fields)))

    assert caught.value.reason.startswith(f"{where} is missing")


def test_the_full_text_of_a_long_post_wins_over_the_truncated_one() -> None:
    long = tweet(text="short…", full_text="medium", extended_tweet={"full_text": "the whole text"})

    assert parse(delivery(long)).comments[0].text == "the whole text"
    assert parse(delivery(tweet(text="short…", full_text="medium"))).comments[0].text == "medium"


@pytest.mark.parametrize(
    ("user", "url"),
    [
        ({"id_str": "7", "screen_name": "Jane_Doe"}, "https://x.com/Jane_Doe/status/99"),
        ({"id_str": "7"}, "https://x.com/i/web/status/99"),
        ({"id_str": "7", "screen_name": "../evil"}, "https://x.com/i/web/status/99"),
    ],
)
def test_urls_point_at_the_tweet(user: dict[str, Any], url: str) -> None:
    (comment,) = parse(delivery(tweet(id_str="99", user=user))).comments

    assert comment.url == url
    assert comment.author.name == user.get("screen_name")


@pytest.mark.parametrize(("lang", "expected"), [("fr", "fr"), ("und", None), (None, None)])
def test_the_language_hint(lang: str | None, expected: str | None) -> None:
    assert parse(delivery(tweet(lang=lang))).comments[0].lang == expected


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("Wed Oct 10 20:19:24 +0000 2018", datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)),
        ("Wed Oct 10 22:19:24 +0200 2018", datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)),
        ("Wed Oct 10 19:49:24 -0030 2018", datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)),
        (None, None),
    ],
)
def test_created_at(created_at: str | None, expected: datetime | None) -> None:
    assert parse(delivery(tweet(created_at=created_at))).comments[0].created_at == expected


@pytest.mark.parametrize(
    "created_at",
    [
        "2018-10-10T20:19:24Z",
        "Wed Foo 10 20:19:24 +0000 2018",
        "Wed Oct 32 20:19:24 +0000 2018",
        "Wed Oct 10 20:19 +0000 2018",
        "Wed Oct 10 20:19:24 0000 2018",
        "Wed Oct 10 20:19:24 +2500 2018",
        "Wed Oct 10 20:19:24 +0000 99999",
        "Mon Jan 01 00:00:00 +0100 0001",
    ],
)
def test_an_unreadable_created_at_is_a_payload_error(created_at: str) -> None:
    with pytest.raises(PayloadError, match="created_at"):
        parse(delivery(tweet(created_at=created_at)))


def test_an_edit_keeps_the_first_id_and_counts_versions() -> None:
    history = {"initial_tweet_id": "100", "edit_tweet_ids": ["100", "200", "300"]}

    first = parse(delivery(tweet(id_str="100", edit_history=history))).comments[0]
    second = parse(delivery(tweet(id_str="300", edit_history=history))).comments[0]
    unlisted = parse(delivery(tweet(id_str="400", edit_history=history))).comments[0]

    assert (first.comment_id, first.kind, first.revision) == ("100", CommentKind.CREATED, 0)
    assert (second.comment_id, second.kind, second.revision) == ("100", CommentKind.EDITED, 2)
    assert (unlisted.comment_id, unlisted.revision) == ("100", 3)
    assert len({first.event_id, second.event_id, unlisted.event_id}) == 3
    assert second.url == "https://x.com/TanuLearns/status/300"


def test_own_posts_and_reposts_are_ignored_even_when_they_reply() -> None:
    own = tweet(user={"id_str": BRAND})
    repost = tweet(retweeted_status={"id_str": "5"})

    assert parse(delivery(own, repost)).ignored == ("own_post", "retweet")


def test_a_batch_keeps_the_order_of_its_events() -> None:
    data = delivery(tweet(id_str="1"), tweet(id_str="2"))
    data["favorite_events"] = [{"id": "f"}]
    data["tweet_delete_events"] = [{"status": {"id": "3", "user_id": "42"}, "timestamp_ms": 7}]

    parsed = parse(data)

    assert [c.comment_id for c in parsed.comments] == ["1", "2", "3"]
    assert [c.kind for c in parsed.comments][-1] is CommentKind.DELETED
    assert parsed.comments[-1].revision == 7
    assert parsed.ignored == ("favorite",)


def test_a_delete_without_timestamp_has_revision_zero() -> None:
    data = {"for_user_id": BRAND, "tweet_delete_events": [{"status": {"id": "3", "user_id": "4"}}]}

    (comment,) = parse(data).comments

    assert (comment.kind, comment.revision, comment.text) == (CommentKind.DELETED, 0, "")


@pytest.mark.parametrize(
    ("data", "ignored"),
    [
        ({"direct_message_indicate_typing_events": [{"sender_id": "1"}]}, ["typing"]),
        ({"block_events": [{"type": "block"}, {"type": "unblock"}]}, ["block", "unblock"]),
        ({"mute_events": [{"type": "mute"}, {"type": ["odd"]}]}, ["mute", "mute"]),
        ({"replay_job_status": {"job_state": "Complete"}}, ["replay_status"]),
        ({"for_user_id": BRAND, "spaces_events": [{}, {}]}, ["unknown", "unknown"]),
        ({"something_new": {"a": 1}}, ["unknown"]),
        ({"for_user_id": BRAND, "users": {}, "apps": {}, "user_has_blocked": "false"}, []),
        ({"for_user_id": BRAND, "tweet_create_events": []}, []),
    ],
)
def test_items_that_are_not_comments(data: dict[str, Any], ignored: list[str]) -> None:
    parsed = parse(data)

    assert parsed.comments == ()
    assert list(parsed.ignored) == ignored


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"tweet_create_events": [tweet()]}, "for_user_id"),
        ({"for_user_id": 1114259648326987776, "tweet_create_events": [tweet()]}, "for_user_id"),
        ({"for_user_id": BRAND, "tweet_create_events": {}}, "must be an array"),
        ({"for_user_id": BRAND, "tweet_create_events": ["x"]}, r"\[0\] must be an object"),
        ({"for_user_id": BRAND, "favorite_events": "x"}, "must be an array"),
        ({"for_user_id": BRAND, "favorite_events": [1]}, "must be an object"),
        (delivery(tweet(user=None)), "user must be an object"),
        (delivery(tweet(text=None)), "has no text"),
        (delivery(tweet(text=5)), "text must be a string"),
        (delivery(tweet(extended_tweet=[])), "extended_tweet must be an object"),
        (delivery(tweet(in_reply_to_status_id_str="12a")), "digits"),
        (delivery(tweet(in_reply_to_status_id_str=12)), "digits"),
        (delivery(tweet(id_str="1" * 21)), "digits"),
        (delivery(tweet(edit_history={"initial_tweet_id": 1})), "initial_tweet_id"),
        (
            delivery(tweet(edit_history={"initial_tweet_id": "1", "edit_tweet_ids": "1"})),
            "edit_tweet_ids",
        ),
        (
            {"for_user_id": BRAND, "tweet_delete_events": [{"status": {"id": 3, "user_id": "4"}}]},
            r"status\.id",
        ),
        (
            {
                "for_user_id": BRAND,
                "tweet_delete_events": [
                    {"status": {"id": "3", "user_id": "4"}, "timestamp_ms": 2**63}
                ],
            },
            "timestamp_ms",
        ),
        (
            {
                "for_user_id": BRAND,
                "tweet_delete_events": [
                    {"status": {"id": "3", "user_id": "4"}, "timestamp_ms": "-1"}
                ],
            },
            "timestamp_ms",
        ),
    ],
)
def test_oddly_shaped_deliveries_are_payload_errors(data: Any, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        parse(data)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"\xff",
        b"[]",
        b"null",
        b'"for_user_id"',
        b'{"tweet_create_events": ' + b"1" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["empty", "truncated", "not-utf8", "array", "null", "string", "huge-int", "deep"],
)
def test_unreadable_bodies_are_payload_errors(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        x.parse(raw, CONTEXT)


ODD_VALUES: list[Any] = [None, True, 0, -1, 2**70, 1.5, "", "x", "١٢", [], [None], {}, {"a": []}]


def mutations(node: Any) -> Iterator[Any]:
    """Copies of ``node`` with one value (at any depth) replaced by an odd one."""
    if isinstance(node, dict):
        items: list[tuple[Any, Any]] = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        for odd in [*ODD_VALUES, *mutations(value)]:
            copied = copy.copy(node)
            copied[key] = odd
            yield copied


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.id)
def test_any_odd_value_anywhere_is_parsed_or_a_payload_error(fx: Fixture) -> None:
    count = 0
    for data in mutations(json.loads(fx.body)):
        count += 1
        try:
            parse(data)
        except PayloadError as exc:
            assert exc.reason
    assert count > len(ODD_VALUES)
