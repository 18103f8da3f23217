"""Discourse: signed post webhooks of one or more forums, normalised to comments.

Discourse signs the raw body (``X-Discourse-Event-Signature: sha256=<hex HMAC-SHA256>``) and
names the event in headers: ``X-Discourse-Event`` (``post_created`` ...),
``X-Discourse-Event-Type`` (``post``, ``topic``, ``ping`` ...), ``X-Discourse-Event-Id`` and
``X-Discourse-Instance``, the forum's base URL. The source is that URL's host name. The
headers are not signed: only the body is. Only the JSON content type is read; a webhook set
to ``application/x-www-form-urlencoded`` in Discourse is refused with 415.

Ids. A reply names its parent by *post number* (``reply_to_post_number``), not by post id,
so a comment's id is built from numbers the payload always holds:
``<host>:<topic_id>/<post_number>`` (``forum.example.org:31544/38``). The parent of a reply
is then ``<host>:<topic_id>/<reply_to_post_number>``, computable without a lookup, and the
host keeps two forums' topic 1 apart. ``post_id`` is the topic, ``<host>:<topic_id>``.

Threads. The topic's first post (post number 1) is the opening post: a top-level comment.
Replies to it, and replies that answer no post in particular, are top-level too: each starts
its own thread, as comments under a post do elsewhere, instead of folding the whole topic
into one thread. A reply to any other post has that post as its parent.

Events. ``post_created`` is ``CREATED`` (revision 0). ``post_edited`` is ``EDITED`` with the
epoch milliseconds of ``updated_at`` as revision, not ``version``: Discourse does not bump
the version for edits made within its grace period ("ninja edits"), so two different texts
may share a version, and the second would be dropped as a duplicate. ``post_destroyed`` is
``DELETED``. ``post_recovered`` (a deleted post shown again, by staff or by its author
cancelling a deletion) is ``UNHIDDEN`` with the restored text: the comment is visible again,
and its own event id keeps it from being taken for the original creation. Deletes and
recoveries use the event's time as revision (``deleted_at``, else ``updated_at``, else 0).
Moderator actions, small actions and whispers, private messages, pings, and every topic,
user or other event are ignored items.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

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
    build_comment,
    epoch_ms,
    load_json_object,
    no_handshake,
)
from services.ingest.settings import IngestSettings
from shared.events import Comment, CommentKind
from shared.settings import secret_values

PLATFORM = "discourse"
SIGNATURE_HEADER = "x-discourse-event-signature"
EVENT_HEADER = "x-discourse-event"
EVENT_TYPE_HEADER = "x-discourse-event-type"
EVENT_ID_HEADER = "x-discourse-event-id"
INSTANCE_HEADER = "x-discourse-instance"
_EVENT_ID = re.compile(r"^[0-9]{1,19}\Z")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z")
_SLUG = re.compile(r"^[^\s/?#]{1,255}\Z")
_KINDS = {
    "post_created": CommentKind.CREATED,
    "post_edited": CommentKind.EDITED,
    "post_destroyed": CommentKind.DELETED,
    "post_recovered": CommentKind.UNHIDDEN,
}
# Discourse's Post.types besides ``regular`` (1).
_POST_TYPES = {2: "moderator_action", 3: "small_action", 4: "whisper"}
# What other event types are ignored as (a fixed word, never the header's own value).
_OTHER_EVENTS = {
    "ping": "ping",
    "topic": "topic",
    "user": "user",
    "group": "group",
    "category": "category",
    "tag": "tag",
    "like": "like",
    "reviewable": "reviewable",
    "notification": "notification",
    "solved": "solved",
    "user_badge": "badge",
    "user_promoted": "user",
    "chat_message": "chat",
}
_BLOCK_END = re.compile(r"<br\s*/?>|</(?:p|li|div|blockquote|h[1-6]|pre|tr)\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"[ \t]*\n\s*")
_MAX_INT = 2**63 - 1


def instance(headers: Mapping[str, str]) -> tuple[str, str]:
    """The forum's host name (the source) and base URL, from ``X-Discourse-Instance``."""
    value = headers.get(INSTANCE_HEADER, "").strip()
    if not value:
        raise PayloadError("missing X-Discourse-Instance header (the forum's base URL)")
    try:
        parts = urlsplit(value)
        host, port = parts.hostname or "", parts.port
    except ValueError as exc:
        raise PayloadError("X-Discourse-Instance must be the forum's http(s) base URL") from exc
    if parts.scheme not in ("http", "https") or len(host) > 128 or not _HOST.match(host):
        raise PayloadError("X-Discourse-Instance must be the forum's http(s) base URL")
    netloc = host if port is None else f"{host}:{port}"
    return host, f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def strip_html(cooked: str) -> str:
    """The text of Discourse's rendered HTML, one line per block."""
    text = html.unescape(_TAG.sub("", _BLOCK_END.sub("\n", cooked)))
    return _BLANK_LINES.sub("\n", text).strip()


def _int(data: Mapping[str, Any], key: str, *, minimum: int = 1) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= _MAX_INT:
        raise PayloadError(f"post.{key} must be an integer from {minimum}")
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"post.{key} must be a string")
    return value


def _time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = _optional_str(data, key)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PayloadError(f"post.{key} must be an ISO 8601 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _revision(post: Mapping[str, Any], kind: CommentKind) -> int:
    if kind is CommentKind.CREATED:
        return 0
    keys = ("updated_at",) if kind is CommentKind.EDITED else ("deleted_at", "updated_at")
    for key in keys:
        moment = _time(post, key)
        if moment is not None:
            try:
                return epoch_ms(moment)
            except (OverflowError, ValueError) as exc:
                raise PayloadError(f"post.{key} is out of range") from exc
    if kind is CommentKind.EDITED:
        return _int(post, "version")
    return 0


def _text(post: Mapping[str, Any], kind: CommentKind) -> str:
    if kind is CommentKind.DELETED:
        return ""
    raw = _optional_str(post, "raw")
    if raw is not None:
        return raw
    cooked = _optional_str(post, "cooked")
    if cooked is None:
        raise PayloadError("post has neither raw nor cooked text")
    return strip_html(cooked)


def _author(post: Mapping[str, Any]) -> tuple[str, str | None]:
    """The author's id and name; ``-`` when Discourse sends none (a deleted account)."""
    user_id = post.get("user_id")
    username = _optional_str(post, "username")
    name = _optional_str(post, "name")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        author_id = str(user_id)
    elif user_id is None:
        author_id = username or "-"
    else:
        raise PayloadError("post.user_id must be an integer")
    return author_id, (name or username or None)


def _post(
    post: Mapping[str, Any], kind: CommentKind, host: str, base_url: str, context: Context
) -> Comment | str:
    """A comment, or the reason the post is not one."""
    post_type = _int(post, "post_type") if post.get("post_type") is not None else 1
    if post_type != 1:
        return _POST_TYPES.get(post_type, "post_type")
    if post.get("topic_archetype") == "private_message":
        return "private_message"
    topic_id = _int(post, "topic_id")
    number = _int(post, "post_number")
    reply_to = post.get("reply_to_post_number")
    if reply_to is not None:
        reply_to = _int(post, "reply_to_post_number")
    slug = _optional_str(post, "topic_slug")
    path = f"{slug}/{topic_id}" if slug and _SLUG.match(slug) else str(topic_id)
    author_id, author_name = _author(post)
    return build_comment(
        context,
        platform=PLATFORM,
        source=host,
        comment_id=f"{host}:{topic_id}/{number}",
        text=_text(post, kind),
        author_id=author_id,
        author_name=author_name,
        post_id=f"{host}:{topic_id}",
        parent_id=None if reply_to in (None, 1, number) else f"{host}:{topic_id}/{reply_to}",
        revision=_revision(post, kind),
        kind=kind,
        created_at=_time(post, "created_at"),
        url=f"{base_url}/t/{path}/{number}",
    )


def parse(body: bytes, headers: Mapping[str, str], context: Context) -> Parsed:
    data = load_json_object(body)
    event = headers.get(EVENT_HEADER, "").strip()
    event_type = headers.get(EVENT_TYPE_HEADER, "").strip()
    if not event and not event_type:
        raise PayloadError("missing X-Discourse-Event header")
    host, base_url = instance(headers)
    kind = _KINDS.get(event)
    if kind is None:
        reason = _OTHER_EVENTS.get(event_type) or _OTHER_EVENTS.get(event) or "unknown_event"
        return Parsed(ignored=(reason,))
    post = data.get("post")
    if not isinstance(post, dict):
        raise PayloadError(f"{event} body must hold a 'post' object")
    result = _post(post, kind, host, base_url, context)
    if isinstance(result, str):
        return Parsed(ignored=(result,))
    return Parsed(comments=(result,))


class DiscourseAdapter(SecretBacked):
    """``POST /webhooks/discourse``: ``X-Discourse-Event-Signature: sha256=<hex HMAC>``."""

    platform = PLATFORM
    path = "/webhooks/discourse"
    secret_setting = "VIGIE_DISCOURSE_WEBHOOK_SECRET"
    signature_header = "X-Discourse-Event-Signature"
    content_types = ("application/json",)
    accepted_status = 200

    def __init__(self, settings: IngestSettings) -> None:
        self._secrets = secret_values(settings.discourse_webhook_secret)

    def handshake(self, request: InboundRequest) -> Reply:
        raise no_handshake(PLATFORM)

    def verify(self, request: InboundRequest, now: datetime) -> Verdict:
        return signature.verify(request.headers.get(SIGNATURE_HEADER), request.body, self._secrets)

    def delivery_id(self, request: InboundRequest) -> str | None:
        """``<host>:<X-Discourse-Event-Id>``: event ids are numbered per forum."""
        event_id = request.headers.get(EVENT_ID_HEADER)
        if event_id is None:
            return None
        if not _EVENT_ID.match(event_id.strip()):
            raise Rejected(400, "X-Discourse-Event-Id must be 1-19 digits", "bad_delivery")
        try:
            host, _ = instance(request.headers)
        except PayloadError:
            return None  # parse names the missing instance
        return f"{host}:{event_id.strip()}"

    def parse(self, request: InboundRequest, context: Context) -> Parsed:
        return parse(request.body, request.headers, context)


def platform_headers(body: bytes, secret: bytes, now: datetime) -> dict[str, str]:
    """The signing header Discourse sends with ``body``."""
    return {SIGNATURE_HEADER: signature.sign(secret, body)}
