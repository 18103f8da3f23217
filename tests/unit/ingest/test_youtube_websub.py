"""YouTube WebSub: subscription verification, hub signatures and Atom pings as changes."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from services.ingest.adapters import youtube
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
from services.ingest.adapters.youtube import YouTubeAdapter, platform_headers
from services.ingest.settings import IngestSettings
from shared.events import derive_id
from tests import webhook_fixtures
from tests.unit import factories as f

OLD, NEW = b"old-hub-secret", b"new-hub-secret"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CONTEXT = Context(received_at=f.NOW, delivery_id="d-1", trace_id="t-1")
FIXTURES = webhook_fixtures.load("youtube")
CHANNEL = "UCPF-oYb2-xN5FbCXy0167Gg"
TOPIC = f"https://www.youtube.com/xml/feeds/videos.xml?channel_id={CHANNEL}"


def adapter(secret: str | None = "old-hub-secret") -> YouTubeAdapter:
    return YouTubeAdapter(
        IngestSettings(youtube_hub_secret=SecretStr(secret) if secret is not None else None)
    )


def feed(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"'
        ' xmlns:at="http://purl.org/atompub/tombstones/1.0"'
        ' xmlns="http://www.w3.org/2005/Atom">'
        "<title>YouTube video feed</title>" + "".join(items) + "</feed>"
    ).encode()


def entry(video: str = "Xc4xYacTu-E", channel: str = CHANNEL, updated: str = "u1") -> str:
    return (
        f"<entry><id>yt:video:{video}</id><yt:videoId>{video}</yt:videoId>"
        f"<yt:channelId>{channel}</yt:channelId><title>t</title>"
        f"<updated>{updated}</updated></entry>"
    )


def parse(body: bytes) -> Parsed:
    return youtube.parse(body, CONTEXT)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[fx.id for fx in FIXTURES])
def test_every_fixture_parses_as_documented(fixture: webhook_fixtures.Fixture) -> None:
    a = adapter()
    assert fixture.content_type in a.content_types

    parsed = a.parse(fixture.request(), CONTEXT)

    webhook_fixtures.assert_matches(parsed, fixture.expect)
    assert parsed.comments == ()


# --- subscription verification (GET) ---------------------------------------------------------


def handshake(**query: str) -> InboundRequest:
    return InboundRequest(body=b"", query={k.replace("_", ".", 1): v for k, v in query.items()})


@pytest.mark.parametrize("mode", ["subscribe", "unsubscribe"])
@pytest.mark.parametrize(
    "topic",
    [TOPIC, f"https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL}"],
    ids=["xml-feeds", "feeds"],
)
def test_the_challenge_is_echoed_as_text(mode: str, topic: str) -> None:
    reply = adapter().handshake(
        handshake(hub_mode=mode, hub_topic=topic, hub_challenge="c-1 2", hub_lease_seconds="432000")
    )

    assert (reply.status, reply.body, reply.media_type) == (200, b"c-1 2", "text/plain")


def test_the_lease_is_optional() -> None:
    reply = adapter().handshake(handshake(hub_mode="subscribe", hub_topic=TOPIC, hub_challenge="c"))

    assert reply.body == b"c"


@pytest.mark.parametrize(
    ("query", "status", "outcome"),
    [
        ({}, 400, "bad_handshake"),
        ({"hub_topic": TOPIC, "hub_challenge": "c"}, 400, "bad_handshake"),
        ({"hub_mode": "subscribe", "hub_topic": TOPIC}, 400, "bad_handshake"),
        ({"hub_mode": "subscribe", "hub_topic": TOPIC, "hub_challenge": ""}, 400, "bad_handshake"),
        (
            {"hub_mode": "subscribe", "hub_topic": TOPIC, "hub_challenge": "c" * 1025},
            400,
            "bad_handshake",
        ),
        (
            {
                "hub_mode": "subscribe",
                "hub_topic": TOPIC,
                "hub_challenge": "c",
                "hub_lease_seconds": "x",
            },
            400,
            "bad_handshake",
        ),
        (
            {
                "hub_mode": "subscribe",
                "hub_topic": TOPIC,
                "hub_challenge": "c",
                "hub_lease_seconds": "-1",
            },
            400,
            "bad_handshake",
        ),
        ({"hub_mode": "publish", "hub_topic": TOPIC, "hub_challenge": "c"}, 404, "bad_mode"),
        ({"hub_mode": "Subscribe", "hub_topic": TOPIC, "hub_challenge": "c"}, 404, "bad_mode"),
        ({"hub_mode": "denied", "hub_topic": TOPIC, "hub_reason": "x"}, 404, "subscription_denied"),
        ({"hub_mode": "subscribe", "hub_challenge": "c"}, 404, "bad_topic"),
        (
            {
                "hub_mode": "subscribe",
                "hub_topic": "https://evil.example/xml/feeds/videos.xml?channel_id=UC1",
                "hub_challenge": "c",
            },
            404,
            "bad_topic",
        ),
        (
            {
                "hub_mode": "subscribe",
                "hub_topic": "https://www.youtube.com/xml/feeds/videos.xml?user=someone",
                "hub_challenge": "c",
            },
            404,
            "bad_topic",
        ),
        (
            {
                "hub_mode": "subscribe",
                "hub_topic": TOPIC + "&channel_id=UC2",
                "hub_challenge": "c",
            },
            404,
            "bad_topic",
        ),
        (
            {
                "hub_mode": "subscribe",
                "hub_topic": "https://www.youtube.com/xml/feeds/videos.xml?channel_id=<x>",
                "hub_challenge": "c",
            },
            404,
            "bad_topic",
        ),
        (
            {"hub_mode": "subscribe", "hub_topic": "http://[::1", "hub_challenge": "c"},
            404,
            "bad_topic",
        ),
    ],
    ids=[
        "empty",
        "no-mode",
        "no-challenge",
        "empty-challenge",
        "huge-challenge",
        "lease-word",
        "lease-negative",
        "unknown-mode",
        "mode-case",
        "denied",
        "no-topic",
        "foreign-host",
        "user-feed",
        "two-channels",
        "bad-channel-id",
        "broken-url",
    ],
)
def test_a_verification_vigie_cannot_read_is_400_and_one_it_refuses_404(
    query: dict[str, str], status: int, outcome: str
) -> None:
    with pytest.raises(Rejected) as caught:
        adapter().handshake(handshake(**query))

    assert (caught.value.status, caught.value.outcome) == (status, outcome)
    assert caught.value.reason


def test_the_topic_names_the_channel() -> None:
    assert youtube.topic_channel(TOPIC) == CHANNEL
    assert youtube.topic_channel("https://www.youtube.com/xml/feeds/videos.xml") is None


# --- signature -------------------------------------------------------------------------------


BODY = feed(entry())


def signed(headers: dict[str, str], body: bytes = BODY) -> InboundRequest:
    return InboundRequest(body=body, headers={"content-type": "application/atom+xml", **headers})


def hub_signature(secret: bytes, method: str, body: bytes = BODY) -> str:
    return f"{method}=" + hmac.new(secret, body, getattr(hashlib, method)).hexdigest()


def test_platform_headers_are_what_googles_hub_sends() -> None:
    assert platform_headers(BODY, OLD, NOW) == {"x-hub-signature": hub_signature(OLD, "sha1")}


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_every_websub_method_is_accepted(method: str) -> None:
    header = hub_signature(OLD, method)

    assert adapter().verify(signed({"x-hub-signature": header}), NOW) is Verdict.VALID
    upper = method.upper() + header[len(method) :]
    assert adapter().verify(signed({"x-hub-signature": upper}), NOW) is Verdict.VALID


def test_the_rotated_secret_verifies_during_a_rotation() -> None:
    both = adapter("old-hub-secret,new-hub-secret")
    header = {"x-hub-signature": hub_signature(NEW, "sha1")}

    assert both.verify(signed(header), NOW) is Verdict.VALID
    assert adapter().verify(signed(header), NOW) is Verdict.MISMATCH


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        (None, Verdict.MISSING),
        ("", Verdict.MISSING),
        ("   ", Verdict.MISSING),
        ("sha1", Verdict.MALFORMED),
        ("sha1=", Verdict.MALFORMED),
        ("sha1=xyz", Verdict.MALFORMED),
        ("md5=" + "0" * 32, Verdict.MALFORMED),
        ("=" + "0" * 40, Verdict.MALFORMED),
        ("sha256=" + "0" * 40, Verdict.MALFORMED),
        ("sha1=" + "0" * 40, Verdict.MISMATCH),
        (hub_signature(b"someone-else", "sha1"), Verdict.MISMATCH),
        (hub_signature(OLD, "sha1", BODY + b" "), Verdict.MISMATCH),
    ],
    ids=[
        "absent",
        "empty",
        "blank",
        "no-digest",
        "empty-digest",
        "not-hex",
        "unknown-method",
        "no-method",
        "wrong-length",
        "zeros",
        "other-secret",
        "other-body",
    ],
)
def test_bad_signatures(header: str | None, verdict: Verdict) -> None:
    headers = {} if header is None else {"x-hub-signature": header}

    assert adapter().verify(signed(headers), NOW) is verdict


def test_without_a_secret_nothing_verifies() -> None:
    unconfigured = adapter(None)

    assert (unconfigured.configured(), adapter().configured()) == (False, True)
    header = {"x-hub-signature": hub_signature(OLD, "sha1")}
    assert unconfigured.verify(signed(header), NOW) is Verdict.MISMATCH


def test_the_route_has_no_source_and_websub_no_delivery_id() -> None:
    a: Adapter = adapter()

    assert (a.platform, a.path, a.secret_setting, a.signature_header) == (
        "youtube",
        "/webhooks/youtube",
        "VIGIE_YOUTUBE_HUB_SECRET",
        "X-Hub-Signature",
    )
    assert a.route_source(signed({})) == NO_SOURCE
    assert a.delivery_id(signed({})) is None


# --- pings -----------------------------------------------------------------------------------


def test_an_entry_is_a_change_of_its_video_on_its_channel() -> None:
    (change,) = parse(feed(entry(updated="2026-11-20T09:30:12+00:00"))).changes

    assert (change.platform, change.source, change.item_id) == ("youtube", CHANNEL, "Xc4xYacTu-E")
    assert change.event_id == derive_id(
        "change", "youtube", "Xc4xYacTu-E", "2026-11-20T09:30:12+00:00"
    )
    assert (change.trace_id, change.occurred_at) == ("t-1", f.NOW)


def test_the_same_ping_again_is_the_same_event_and_a_new_update_a_new_one() -> None:
    first = parse(feed(entry(updated="u1"))).changes[0]
    again = youtube.parse(feed(entry(updated="u1")), Context(NOW, "d-2", "t-2")).changes[0]
    later = parse(feed(entry(updated="u2"))).changes[0]

    assert first.event_id == again.event_id != later.event_id


def test_pings_never_carry_comments() -> None:
    parsed = parse(feed(entry(), entry(video="b7QlX3yR2Tk")))

    assert parsed.comments == ()
    assert [c.item_id for c in parsed.changes] == ["Xc4xYacTu-E", "b7QlX3yR2Tk"]


def test_a_deletion_is_a_change_distinct_from_an_update() -> None:
    tombstone = (
        '<at:deleted-entry ref="yt:video:Xc4xYacTu-E" when="u1">'
        f"<at:by><name>n</name><uri>https://www.youtube.com/channel/{CHANNEL}</uri></at:by>"
        "</at:deleted-entry>"
    )

    deleted, updated = parse(feed(tombstone, entry(updated="u1"))).changes

    assert (deleted.source, deleted.item_id) == (updated.source, updated.item_id)
    assert deleted.event_id != updated.event_id


@pytest.mark.parametrize(
    ("items", "ignored"),
    [
        ((), ["empty_feed"]),
        (("<entry><id>tag:example.org,1</id><title>x</title></entry>",), ["not_video"]),
        (("<entry><yt:videoId>Xc4xYacTu-E</yt:videoId></entry>",), ["not_video"]),
        (('<at:deleted-entry ref="tag:example.org,1" when="x"/>',), ["not_video"]),
        (('<at:deleted-entry ref="yt:video:Xc4xYacTu-E"/>',), ["video_deleted"]),
        (
            (
                '<at:deleted-entry ref="yt:video:Xc4xYacTu-E"><at:by>'
                "<uri>https://evil.example/channel/UC1</uri></at:by></at:deleted-entry>",
            ),
            ["video_deleted"],
        ),
        ((entry(), entry()), ["duplicate"]),
    ],
    ids=[
        "empty",
        "foreign-entry",
        "no-channel",
        "foreign-tombstone",
        "anonymous-tombstone",
        "foreign-owner",
        "duplicate",
    ],
)
def test_items_that_name_no_video_are_ignored_with_a_reason(
    items: tuple[str, ...], ignored: list[str]
) -> None:
    assert list(parse(feed(*items)).ignored) == ignored


# --- bodies that cannot be read ----------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE feed [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol2;</title></feed>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&x;</title></feed>"""


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL,
        b'<!DOCTYPE feed><feed xmlns="http://www.w3.org/2005/Atom"/>',
        BILLION_LAUGHS.decode().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>').encode("utf-16"),
    ],
    ids=["entity-expansion", "external-entity", "bare-doctype", "utf16-doctype"],
)
def test_doctype_and_entity_declarations_are_refused(body: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(body)

    assert "DOCTYPE" in caught.value.reason


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<feed",
        b"\xff\xfe\x00",
        b'<?xml version="1.0" encoding="no-such-codec"?><feed/>',
        b"<feed xmlns='http://www.w3.org/2005/Atom'>&undefined;</feed>",
        b"<feed xmlns='http://www.w3.org/2005/Atom'/><feed/>",
        b"<feed/>",
        b"<rss><channel/></rss>",
        b'{"kind": "youtube#video"}',
        feed(entry(video="<bad id>".replace("<", "&lt;").replace(">", "&gt;"))),
        feed(entry(channel="UC" + "x" * 100)),
    ],
    ids=[
        "empty",
        "text",
        "truncated",
        "binary",
        "unknown-encoding",
        "undefined-entity",
        "two-roots",
        "feed-without-namespace",
        "rss",
        "json",
        "bad-video-id",
        "long-channel-id",
    ],
)
def test_unreadable_bodies_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(body)

    assert caught.value.reason


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    raw=st.binary(max_size=200)
    | st.builds(
        lambda parts: feed(*parts),
        st.lists(
            st.sampled_from(
                [
                    entry(),
                    entry(updated=""),
                    "<entry/>",
                    "<yt:videoId>x</yt:videoId>",
                    '<at:deleted-entry ref="yt:video:a"/>',
                    "<at:deleted-entry/>",
                    "&amp;",
                    "<![CDATA[x]]>",
                    "<?pi x?>",
                    "<!-- c -->",
                    "<",
                ]
            ),
            max_size=5,
        ),
    )
)
def test_any_bytes_are_parsed_or_refused_with_a_payload_error(raw: bytes) -> None:
    try:
        parsed = parse(raw)
    except PayloadError:
        return
    assert parsed.comments == ()
    assert parsed.changes or parsed.ignored
