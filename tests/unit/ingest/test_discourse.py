"""Discourse: signatures, forum identity, and what each post event becomes."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from services.ingest.adapters import discourse
from services.ingest.adapters.base import (
    NO_SOURCE,
    Adapter,
    Context,
    InboundRequest,
    Parsed,
    PayloadError,
    Rejected,
    Verdict,
    epoch_ms,
)
from services.ingest.settings import IngestSettings
from shared.events import CommentKind
from tests.unit import factories as f
from tests.webhook_fixtures import Fixture, assert_matches, load

OLD, NEW = "old-discourse-secret", "new-discourse-secret"
FIXTURES = load("discourse")
CONTEXT = Context(received_at=f.NOW, delivery_id="d-1", trace_id="t-1")
FORUM = "https://forum.example.org"
HEADERS = {
    "x-discourse-event": "post_created",
    "x-discourse-event-type": "post",
    "x-discourse-event-id": "42",
    "x-discourse-instance": FORUM,
}


def adapter(secret: str | None = f"{OLD},{NEW}") -> discourse.DiscourseAdapter:
    settings = IngestSettings(discourse_webhook_secret=SecretStr(secret) if secret else None)
    return discourse.DiscourseAdapter(settings)


def post(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 501,
        "topic_id": 77,
        "post_number": 5,
        "reply_to_post_number": 3,
        "raw": "Your product broke my phone.",
        "cooked": "<p>Your product broke my phone.</p>",
        "username": "ana",
        "name": "Ana",
        "user_id": 12,
        "created_at": "2026-11-20T09:30:00.000Z",
        "updated_at": "2026-11-20T09:30:00.000Z",
        "version": 1,
        "post_type": 1,
        "topic_slug": "broken-phones",
        "topic_archetype": "regular",
    }
    base.update(fields)
    return base


def parse(data: Any, event: str = "post_created", **headers: str) -> Parsed:
    merged = {**HEADERS, "x-discourse-event": event, **headers}
    return discourse.parse(json.dumps(data).encode(), merged, CONTEXT)


# The corpus.


def test_the_corpus_covers_every_post_event_and_other_items() -> None:
    events = {fx.headers["x-discourse-event"] for fx in FIXTURES}
    ignored = {r for fx in FIXTURES for r in fx.expect.get("ignored", [])}

    assert 6 <= len(FIXTURES) <= 12
    assert {"post_created", "post_edited", "post_destroyed", "post_recovered"} <= events
    assert {"ping", "topic", "like", "whisper", "private_message"} <= ignored
    assert all(fx.origin for fx in FIXTURES)


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.id)
def test_every_fixture_is_signed_and_parsed_as_expected(fx: Fixture) -> None:
    subject = adapter()
    request = fx.request(discourse.platform_headers(fx.body, NEW.encode(), f.NOW))

    assert subject.verify(request, f.NOW) is Verdict.VALID
    assert_matches(subject.parse(request, CONTEXT), fx.expect)


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.id)
def test_a_redelivery_yields_the_same_event_ids(fx: Fixture) -> None:
    later = Context(received_at=datetime.now(UTC), delivery_id="d-2", trace_id="t-2")

    first = discourse.parse(fx.body, fx.headers, CONTEXT)
    again = discourse.parse(fx.body, fx.headers, later)

    assert [c.event_id for c in first.comments] == [c.event_id for c in again.comments]


# Route, handshake, delivery id.


def test_the_route_and_its_settings() -> None:
    subject: Adapter = adapter()

    assert (subject.platform, subject.path) == ("discourse", "/webhooks/discourse")
    assert subject.secret_setting == "VIGIE_DISCOURSE_WEBHOOK_SECRET"
    assert (
        subject.signature_header.lower()
        == discourse.SIGNATURE_HEADER
        == "x-discourse-event-signature"
    )
    assert subject.content_types == ("application/json",)
    assert subject.accepted_status == 200
    assert subject.route_source(InboundRequest(body=b"")) == NO_SOURCE
    assert subject.configured()
    assert not adapter(None).configured()


def test_there_is_no_get_handshake() -> None:
    with pytest.raises(Rejected) as caught:
        adapter().handshake(InboundRequest(body=b"", query={"crc_token": "x"}))

    assert (caught.value.status, caught.value.outcome) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (HEADERS, "forum.example.org:42"),
        ({**HEADERS, "x-discourse-event-id": " 42 "}, "forum.example.org:42"),
        ({k: v for k, v in HEADERS.items() if k != "x-discourse-event-id"}, None),
        ({k: v for k, v in HEADERS.items() if k != "x-discourse-instance"}, None),
    ],
    ids=["scoped-by-forum", "blanks", "no-event-id", "no-instance"],
)
def test_the_delivery_id_is_the_event_id_of_the_forum(
    headers: dict[str, str], expected: str | None
) -> None:
    assert adapter().delivery_id(InboundRequest(body=b"", headers=headers)) == expected


@pytest.mark.parametrize("event_id", ["", "abc", "1" * 20, "4 2"])
def test_a_malformed_event_id_is_refused(event_id: str) -> None:
    request = InboundRequest(body=b"", headers={**HEADERS, "x-discourse-event-id": event_id})

    with pytest.raises(Rejected) as caught:
        adapter().delivery_id(request)

    assert (caught.value.status, caught.value.outcome) == (400, "bad_delivery")


# Signatures.

BODY = json.dumps({"post": post()}).encode()


def hex_hmac(secret: str, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        (f"sha256={hex_hmac(OLD)}", Verdict.VALID),
        (f"sha256={hex_hmac(NEW)}", Verdict.VALID),
        (f"sha256={hex_hmac('someone-else')}", Verdict.MISMATCH),
        (None, Verdict.MISSING),
        ("", Verdict.MISSING),
        (hex_hmac(OLD), Verdict.MALFORMED),
        ("sha256=abcde", Verdict.MALFORMED),
        ("sha1=" + hex_hmac(OLD), Verdict.MALFORMED),
    ],
    ids=["current", "rotated", "other-secret", "missing", "empty", "no-prefix", "short", "sha1"],
)
def test_signatures(header: str | None, verdict: Verdict) -> None:
    headers = {} if header is None else {discourse.SIGNATURE_HEADER: header}

    assert adapter().verify(InboundRequest(body=BODY, headers=headers), f.NOW) is verdict


def test_without_a_configured_secret_nothing_verifies() -> None:
    headers = discourse.platform_headers(BODY, OLD.encode(), f.NOW)

    assert adapter(None).verify(InboundRequest(body=BODY, headers=headers), f.NOW) is (
        Verdict.MISMATCH
    )


def test_platform_headers_are_what_discourse_sends() -> None:
    assert discourse.platform_headers(BODY, OLD.encode(), f.NOW) == {
        "x-discourse-event-signature": f"sha256={hex_hmac(OLD)}"
    }


# The forum.


@pytest.mark.parametrize(
    ("instance", "host", "base"),
    [
        ("https://forum.example.org", "forum.example.org", "https://forum.example.org"),
        ("https://Forum.Example.org/", "forum.example.org", "https://forum.example.org"),
        ("https://example.org/community/", "example.org", "https://example.org/community"),
        ("http://localhost:4200", "localhost", "http://localhost:4200"),
        ("https://user:pw@forum.example.org", "forum.example.org", "https://forum.example.org"),
    ],
)
def test_the_instance_names_the_source_and_the_base_url(
    instance: str, host: str, base: str
) -> None:
    (comment,) = parse({"post": post()}, **{"x-discourse-instance": instance}).comments

    assert comment.source == host
    assert comment.url == f"{base}/t/broken-phones/77/5"


@pytest.mark.parametrize(
    "instance",
    [
        "",
        "forum.example.org",
        "ftp://forum.example.org",
        "https://",
        "https://[::1",
        "https://forum.example.org:99999",
        "https://bad_host.example.org",
        "https://" + "a" * 120 + ".example.org",
    ],
)
def test_an_unusable_instance_is_a_payload_error(instance: str) -> None:
    with pytest.raises(PayloadError, match="X-Discourse-Instance"):
        parse({"post": post()}, **{"x-discourse-instance": instance})


def test_a_missing_instance_is_a_payload_error_even_for_a_ping() -> None:
    headers = {"x-discourse-event": "ping", "x-discourse-event-type": "ping"}

    with pytest.raises(PayloadError, match="X-Discourse-Instance"):
        discourse.parse(b'{"ping": "OK"}', headers, CONTEXT)


def test_two_forums_never_share_a_comment() -> None:
    (one,) = parse({"post": post()}).comments
    (two,) = parse({"post": post()}, **{"x-discourse-instance": "https://other.example"}).comments

    assert (one.comment_id, two.comment_id) == ("forum.example.org:77/5", "other.example:77/5")
    assert (one.post_id, two.post_id) == ("forum.example.org:77", "other.example:77")
    assert one.event_id != two.event_id


# Threads.


@pytest.mark.parametrize(
    ("number", "reply_to", "parent"),
    [
        (1, None, None),
        (5, None, None),
        (5, 1, None),
        (5, 3, "forum.example.org:77/3"),
        (5, 5, None),
    ],
    ids=["opening-post", "reply-to-topic", "reply-to-opening-post", "reply-to-post", "self"],
)
def test_the_parent_is_computed_from_post_numbers(
    number: int, reply_to: int | None, parent: str | None
) -> None:
    (comment,) = parse({"post": post(post_number=number, reply_to_post_number=reply_to)}).comments

    assert comment.comment_id == f"forum.example.org:77/{number}"
    assert comment.parent_id == parent
    assert comment.thread_id == (parent or comment.comment_id)
    assert comment.post_id == "forum.example.org:77"


def test_a_reply_and_its_parent_share_a_partition() -> None:
    (parent,) = parse({"post": post(post_number=3, reply_to_post_number=None)}).comments
    (reply,) = parse({"post": post(post_number=5, reply_to_post_number=3)}).comments

    assert reply.parent_id == parent.comment_id
    assert reply.partition_key == f"discourse:{parent.comment_id}"


# Events and revisions.


def test_a_new_post_is_created_at_revision_zero() -> None:
    (comment,) = parse({"post": post()}).comments

    assert comment.platform == "discourse"
    assert (comment.kind, comment.revision) == (CommentKind.CREATED, 0)
    assert comment.text == "Your product broke my phone."
    assert (comment.author.id, comment.author.name) == ("12", "Ana")
    assert comment.created_at == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def test_grace_period_edits_share_a_version_but_not_a_revision() -> None:
    first = post(version=1, raw="fine", updated_at="2026-11-20T09:31:00Z")
    second = post(version=1, raw="insult", updated_at="2026-11-20T09:32:00Z")

    (a,) = parse({"post": first}, "post_edited").comments
    (b,) = parse({"post": second}, "post_edited").comments

    assert (a.kind, b.kind) == (CommentKind.EDITED, CommentKind.EDITED)
    assert a.revision == epoch_ms(datetime(2026, 11, 20, 9, 31, tzinfo=UTC))
    assert a.revision < b.revision
    assert a.event_id != b.event_id


def test_an_edit_without_updated_at_falls_back_to_the_version() -> None:
    (comment,) = parse({"post": post(updated_at=None, version=4)}, "post_edited").comments

    assert comment.revision == 4


@pytest.mark.parametrize(
    ("fields", "moment"),
    [
        ({"deleted_at": "2026-11-21T10:00:00Z"}, datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ({"deleted_at": None}, datetime(2026, 11, 20, 9, 30, tzinfo=UTC)),
    ],
)
def test_a_delete_is_revised_at_the_deletion(fields: dict[str, Any], moment: datetime) -> None:
    (comment,) = parse({"post": post(**fields)}, "post_destroyed").comments

    assert (comment.kind, comment.text) == (CommentKind.DELETED, "")
    assert comment.revision == epoch_ms(moment)


def test_a_delete_needs_no_text_and_no_time() -> None:
    bare = post(raw=None, cooked=None, updated_at=None, created_at=None)

    (comment,) = parse({"post": bare}, "post_destroyed").comments

    assert (comment.kind, comment.revision) == (CommentKind.DELETED, 0)


def test_a_recovered_post_is_shown_again_with_its_text() -> None:
    (created,) = parse({"post": post()}).comments
    (recovered,) = parse({"post": post()}, "post_recovered").comments

    assert (recovered.kind, recovered.text) == (CommentKind.UNHIDDEN, created.text)
    assert recovered.event_id != created.event_id


def test_cooked_html_is_stripped_when_there_is_no_raw() -> None:
    cooked = (
        '<aside class="quote"><blockquote><p>old</p></blockquote></aside>\n'
        "<p>Tom &amp; Jerry &lt;3<br>second line</p><ul><li>one</li><li>two</li></ul>"
    )

    (comment,) = parse({"post": post(raw=None, cooked=cooked)}).comments

    assert comment.text == "old\nTom & Jerry <3\nsecond line\none\ntwo"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"post_type": 2}, "moderator_action"),
        ({"post_type": 3}, "small_action"),
        ({"post_type": 4}, "whisper"),
        ({"post_type": 9}, "post_type"),
        ({"topic_archetype": "private_message"}, "private_message"),
    ],
)
def test_posts_that_are_not_public_comments(fields: dict[str, Any], reason: str) -> None:
    for event in ("post_created", "post_edited", "post_destroyed", "post_recovered"):
        assert parse({"post": post(**fields)}, event) == Parsed(ignored=(reason,))


@pytest.mark.parametrize(
    ("event", "event_type", "reason"),
    [
        ("ping", "ping", "ping"),
        ("", "ping", "ping"),
        ("topic_created", "topic", "topic"),
        ("topic_destroyed", "topic", "topic"),
        ("user_created", "user", "user"),
        ("post_liked", "like", "like"),
        ("chat_message_created", "chat_message", "chat"),
        ("post_frobnicated", "post", "unknown_event"),
        ("brand_new", "brand_new", "unknown_event"),
    ],
)
def test_other_events_are_ignored_with_a_fixed_reason(
    event: str, event_type: str, reason: str
) -> None:
    parsed = parse({"anything": {}}, event, **{"x-discourse-event-type": event_type})

    assert parsed == Parsed(ignored=(reason,))


@pytest.mark.parametrize(
    ("user_id", "username", "name", "author"),
    [
        (12, "ana", "Ana", ("12", "Ana")),
        (12, "ana", "", ("12", "ana")),
        (-1, "system", None, ("-1", "system")),
        (None, "ana", None, ("ana", "ana")),
        (None, None, None, ("-", None)),
    ],
)
def test_the_author(
    user_id: int | None, username: str | None, name: str | None, author: tuple[str, str | None]
) -> None:
    fields = {"user_id": user_id, "username": username, "name": name}

    (comment,) = parse({"post": post(**fields)}).comments

    assert (comment.author.id, comment.author.name) == author


def test_an_odd_slug_is_left_out_of_the_url() -> None:
    (comment,) = parse({"post": post(topic_slug="a/../b")}).comments

    assert comment.url == f"{FORUM}/t/77/5"


# Odd deliveries.


@pytest.mark.parametrize(
    ("data", "event", "match"),
    [
        ({}, "post_created", "'post' object"),
        ({"post": []}, "post_created", "'post' object"),
        ({"post": post(raw=None, cooked=None)}, "post_created", "neither raw nor cooked"),
        ({"post": post(raw=5)}, "post_created", "post.raw"),
        ({"post": post(topic_id="77")}, "post_created", "post.topic_id"),
        ({"post": post(topic_id=True)}, "post_created", "post.topic_id"),
        ({"post": post(post_number=0)}, "post_created", "post.post_number"),
        ({"post": post(post_number=2**63)}, "post_created", "post.post_number"),
        ({"post": post(reply_to_post_number="3")}, "post_created", "reply_to_post_number"),
        ({"post": post(post_type="1")}, "post_created", "post.post_type"),
        ({"post": post(user_id="12")}, "post_created", "post.user_id"),
        ({"post": post(created_at="yesterday")}, "post_created", "post.created_at"),
        ({"post": post(updated_at=5)}, "post_edited", "post.updated_at"),
        ({"post": post(updated_at=None, version=None)}, "post_edited", "post.version"),
    ],
)
def test_oddly_shaped_posts_are_payload_errors(data: Any, event: str, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        parse(data, event)


def test_a_delivery_without_event_headers_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="X-Discourse-Event"):
        discourse.parse(BODY, {"x-discourse-instance": FORUM}, CONTEXT)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"\xff", b"[]", b"null", b'{"post": ' + b"9" * 5000 + b"}", b"[" * 100_000],
    ids=["empty", "truncated", "not-utf8", "array", "null", "huge-int", "deep"],
)
def test_unreadable_bodies_are_payload_errors(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        discourse.parse(raw, HEADERS, CONTEXT)


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
    for event in ("post_created", "post_edited", "post_destroyed", "post_recovered"):
        headers = {**fx.headers, "x-discourse-event": event}
        for data in mutations(json.loads(fx.body)):
            count += 1
            try:
                discourse.parse(json.dumps(data).encode(), headers, CONTEXT)
            except PayloadError as exc:
                assert exc.reason
    assert count > len(ODD_VALUES)
