"""YouTube push notifications (WebSub): ``/webhooks/youtube``.

Google's hub (https://pubsubhubbub.appspot.com) confirms a subscription with a GET carrying
``hub.mode``, ``hub.topic`` (``https://www.youtube.com/xml/feeds/videos.xml?channel_id=...``)
and ``hub.challenge``, which is echoed as ``text/plain``. Following W3C WebSub, a request
Vigie cannot read is answered 400 and an action it does not agree with (an unknown mode, a
topic that is not a YouTube channel feed) 404. A ``denied`` notice is answered 404 as well,
under its own outcome, so that a subscription the hub refused shows in the metrics.

A notification is an Atom feed POSTed with ``X-Hub-Signature: <method>=<hex HMAC of the
body>`` under the subscription's ``hub.secret``; the method is ``sha1`` for Google's hub, and
``sha256``, ``sha384`` and ``sha512`` are accepted as WebSub allows. WebSub asks subscribers
to answer 2xx even when the signature does not match (and to drop the content); Vigie
deliberately answers 403 and publishes nothing, so that a misconfigured secret is visible.

Pings never carry comments: each ``<entry>`` (a video uploaded, or its title or description
changed) becomes a ``SourceChanged`` naming the channel and the video, and the comment poller
fetches what is new. A ``<at:deleted-entry>`` (a video deleted or made private) is a change
too, so that the poller finds the video gone and stops spending quota on it.

The feed is parsed with ``xml.etree.ElementTree`` after a first pass that refuses any
DOCTYPE or ENTITY declaration, so entity expansion ("billion laughs") and external entities
never reach the tree builder.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit
from uuid import UUID
from xml.parsers import expat

from pydantic import ValidationError

from services.ingest import signature
from services.ingest.adapters.base import (
    Context,
    InboundRequest,
    Parsed,
    PayloadError,
    Rejected,
    Reply,
    SecretBacked,
    Verdict,
    field_errors,
)
from services.ingest.settings import IngestSettings
from shared.events import SourceChanged, derive_id
from shared.settings import secret_values

PLATFORM = "youtube"
SIGNATURE_HEADER = "x-hub-signature"
ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "yt": "http://www.youtube.com/xml/schemas/2015",
    "at": "http://purl.org/atompub/tombstones/1.0",
}
_FEED = f"{{{NS['atom']}}}feed"
# Video ids are 11 and channel ids 24 characters of this alphabet; the bound is generous.
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
_VIDEO_REF = re.compile(r"^yt:video:([A-Za-z0-9_-]{1,64})\Z")
_CHANNEL_URI = re.compile(r"^https?://www\.youtube\.com/channel/([A-Za-z0-9_-]{1,64})/?\Z")
_TOPIC_HOST = "www.youtube.com"
_TOPIC_PATHS = ("/xml/feeds/videos.xml", "/feeds/videos.xml")
_MAX_CHALLENGE = 1024


class _Declaration(Exception):
    pass


def _refuse(*_: Any) -> NoReturn:
    raise _Declaration


def _feed(body: bytes) -> ET.Element:
    """The feed's root element; DOCTYPE and ENTITY declarations are refused."""
    scanner = expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = _refuse
    scanner.EntityDeclHandler = _refuse
    try:
        scanner.Parse(body, True)
        root = ET.fromstring(body)
    except _Declaration as exc:
        raise PayloadError("DOCTYPE and ENTITY declarations are not accepted") from exc
    except (expat.ExpatError, ET.ParseError, ValueError, LookupError) as exc:
        raise PayloadError(f"body is not well-formed XML: {exc}") from exc
    if root.tag != _FEED:
        raise PayloadError("body must be an Atom <feed>")
    return root


def _text(element: ET.Element, path: str) -> str:
    return (element.findtext(path, default="", namespaces=NS) or "").strip()


def _change(context: Context, channel: str, video: str, *parts: str) -> SourceChanged:
    try:
        return SourceChanged(
            event_id=derive_id("change", PLATFORM, video, *parts),
            trace_id=context.trace_id,
            occurred_at=context.received_at,
            platform=PLATFORM,
            source=channel,
            item_id=video,
        )
    except ValidationError as exc:
        raise PayloadError("change cannot be normalised", errors=field_errors(exc)) from exc


def parse(body: bytes, context: Context) -> Parsed:
    root = _feed(body)
    changes: list[SourceChanged] = []
    ignored: list[str] = []
    seen: set[UUID] = set()

    def add(change: SourceChanged) -> None:
        if change.event_id in seen:
            ignored.append("duplicate")
        else:
            seen.add(change.event_id)
            changes.append(change)

    entries = root.findall("atom:entry", NS)
    tombstones = root.findall("at:deleted-entry", NS)
    for entry in entries:
        video, channel = _text(entry, "yt:videoId"), _text(entry, "yt:channelId")
        if not video or not channel:
            ignored.append("not_video")
            continue
        if not _ID.match(video) or not _ID.match(channel):
            raise PayloadError("entry has an invalid yt:videoId or yt:channelId")
        add(_change(context, channel, video, _text(entry, "atom:updated")))
    for tombstone in tombstones:
        ref = _VIDEO_REF.match(tombstone.get("ref", "").strip())
        if ref is None:
            ignored.append("not_video")
            continue
        owner = _CHANNEL_URI.match(_text(tombstone, "at:by/atom:uri"))
        if owner is None:
            # Nobody to attribute the deletion to: the poller cannot look for it.
            ignored.append("video_deleted")
            continue
        when = tombstone.get("when", "").strip()
        add(_change(context, owner.group(1), ref.group(1), when, "deleted"))
    if not entries and not tombstones:
        ignored.append("empty_feed")
    return Parsed(changes=tuple(changes), ignored=tuple(ignored))


def topic_channel(topic: str) -> str | None:
    """The channel id of a YouTube channel feed topic URL, else ``None``."""
    try:
        url = urlsplit(topic)
    except ValueError:
        return None
    if url.scheme not in ("https", "http") or url.netloc != _TOPIC_HOST:
        return None
    if url.path not in _TOPIC_PATHS:
        return None
    channel = parse_qs(url.query).get("channel_id", [])
    return channel[0] if len(channel) == 1 and _ID.match(channel[0]) else None


class YouTubeAdapter(SecretBacked):
    """``/webhooks/youtube``: WebSub verification (GET) and signed Atom pings (POST)."""

    platform = PLATFORM
    path = "/webhooks/youtube"
    secret_setting = "VIGIE_YOUTUBE_HUB_SECRET"
    signature_header = "X-Hub-Signature"
    content_types = ("application/atom+xml", "application/xml", "text/xml")
    accepted_status = 200

    def __init__(self, settings: IngestSettings) -> None:
        self._secrets = secret_values(settings.youtube_hub_secret)

    def handshake(self, request: InboundRequest) -> Reply:
        query = request.query
        mode = query.get("hub.mode")
        if not mode:
            raise Rejected(400, "hub.mode is required", "bad_handshake")
        if mode == "denied":
            raise Rejected(404, "the hub denied the subscription", "subscription_denied")
        if mode not in ("subscribe", "unsubscribe"):
            raise Rejected(404, "hub.mode must be subscribe or unsubscribe", "bad_mode")
        if topic_channel(query.get("hub.topic", "")) is None:
            raise Rejected(404, "hub.topic is not a YouTube channel feed", "bad_topic")
        challenge = query.get("hub.challenge", "")
        if not 0 < len(challenge) <= _MAX_CHALLENGE:
            raise Rejected(
                400, f"hub.challenge must be 1-{_MAX_CHALLENGE} characters", "bad_handshake"
            )
        lease = query.get("hub.lease_seconds")
        if lease is not None and not (lease.isascii() and lease.isdigit() and len(lease) <= 10):
            raise Rejected(400, "hub.lease_seconds must be a number of seconds", "bad_handshake")
        return Reply(200, challenge.encode(), "text/plain")

    def verify(self, request: InboundRequest, now: datetime) -> Verdict:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header or not header.strip():
            return Verdict.MISSING
        method, separator, _ = header.strip().partition("=")
        method = method.lower()
        if not separator or method not in ALGORITHMS:
            return Verdict.MALFORMED
        return signature.verify(
            header, request.body, self._secrets, prefix=f"{method}=", algorithm=method
        )

    def delivery_id(self, request: InboundRequest) -> str | None:
        return None

    def parse(self, request: InboundRequest, context: Context) -> Parsed:
        return parse(request.body, context)


def platform_headers(body: bytes, secret: bytes, now: datetime) -> dict[str, str]:
    """The signing header Google's hub sends with ``body`` (HMAC-SHA1)."""
    return {SIGNATURE_HEADER: signature.sign(secret, body, prefix="sha1=", algorithm="sha1")}
