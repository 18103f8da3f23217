"""X (Account Activity API): the CRC handshake, signed deliveries and their normalisation.

One delivery concerns one subscribed account, ``for_user_id``: the source. It may batch
several events of several kinds. Replies, @mentions and quote posts written by others become
comments; the account's own posts, reposts, likes, follows, direct messages and the like are
counted as ignored items.

Ids are read from the ``*_str`` fields only: X ids are 64-bit, and the numeric ``id`` fields
have already been rounded by any JavaScript hop on the way. A tweet without ``id_str`` (or a
``user`` without ``id_str``) is a ``PayloadError``, not a guess from the number.

Threads: a reply to one of the account's own posts is a top-level comment on that post
(``post_id`` is the account's post, ``parent_id`` is None). A reply to anyone else's tweet
answers that tweet (``parent_id`` and ``post_id`` are the tweet it answers, the payload does
not name the conversation's root). A quote post comments on the quoted tweet; a standalone
mention is its own post.

Edits: X gives an edited post a new id and lists the chain in ``edit_history``. The comment
keeps the id of the first version; an edit is ``EDITED`` with the position of the new id in
``edit_tweet_ids`` as its revision (the platform's own numbering of versions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

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
    load_json_object,
)
from services.ingest.settings import IngestSettings
from shared.events import Comment, CommentKind
from shared.settings import secret_values

PLATFORM = "x"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
SECRET_SETTING = "VIGIE_X_CONSUMER_SECRET"
_ID = re.compile(r"^[0-9]{1,20}\Z")
_SCREEN_NAME = re.compile(r"^[A-Za-z0-9_]{1,50}\Z")
_MAX_REVISION = 2**63 - 1
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# Keys that describe the delivery rather than hold events.
_METADATA = frozenset({"for_user_id", "user_has_blocked", "is_blocked_by", "users", "apps"})
# Event arrays that never hold comments, and the reason each item is ignored for.
_IGNORED_ARRAYS = {
    "favorite_events": "favorite",
    "follow_events": "follow",
    "unfollow_events": "unfollow",
    "block_events": "block",
    "unblock_events": "unblock",
    "mute_events": "mute",
    "unmute_events": "unmute",
    "direct_message_events": "direct_message",
    "direct_message_indicate_typing_events": "typing",
    "direct_message_mark_read_events": "receipt",
}
# X sends unfollows, unblocks and unmutes in the same arrays, told apart by ``type``.
_TYPED_REASONS = frozenset({"follow", "unfollow", "block", "unblock", "mute", "unmute"})
# Single objects that are not events on comments.
_IGNORED_OBJECTS = {"user_event": "revoke", "replay_job_status": "replay_status"}


def crc_response(secret: bytes, crc_token: str) -> str:
    """The ``response_token`` X expects for ``crc_token``."""
    return signature.sign(secret, crc_token.encode(), encoding="base64")


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object")
    return value


def _array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PayloadError(f"{where} must be an array")
    return value


def _id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise PayloadError(f"{where} must be a string of 1-20 digits")
    return value


def _optional_id(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    return None if value is None else _id(value, f"{where}.{key}")


def _id_str(data: Mapping[str, Any], where: str) -> str:
    if data.get("id_str") is None:
        raise PayloadError(f"{where}.id_str is missing: X ids are read from *_str fields only")
    return _id(data["id_str"], f"{where}.id_str")


def _optional_text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"{where}.{key} must be a string")
    return value


def _timestamp_ms(value: Any, where: str) -> int:
    """Epoch milliseconds, sent as a string (``"1432228155593"``) or a number."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_REVISION:
        return value
    raise PayloadError(f"{where} must be epoch milliseconds")


def parse_created_at(value: str, where: str) -> datetime:
    """X's ``"Wed Oct 10 20:19:24 +0000 2018"``, read without the process locale."""
    try:
        _, month, day, clock, offset, year = value.split(" ")
        hour, minute, second = (int(p) for p in clock.split(":"))
        if len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdigit():
            raise ValueError(offset)
        shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:]))
        zone = timezone(-shift if offset[0] == "-" else shift)
        moment = datetime(int(year), _MONTHS[month], int(day), hour, minute, second, tzinfo=zone)
        return moment.astimezone(UTC)
    except (ValueError, KeyError, OverflowError) as exc:
        raise PayloadError(f"{where} must look like 'Wed Oct 10 20:19:24 +0000 2018'") from exc


def _text(tweet: Mapping[str, Any], where: str) -> str:
    """The untruncated text: ``extended_tweet.full_text``, else ``full_text``, else ``text``."""
    extended = tweet.get("extended_tweet")
    if extended is not None:
        full = _optional_text(_object(extended, f"{where}.extended_tweet"), "full_text", where)
        if full is not None:
            return full
    for key in ("full_text", "text"):
        text = _optional_text(tweet, key, where)
        if text is not None:
            return text
    raise PayloadError(f"{where} has no text")


def _edit(tweet: Mapping[str, Any], tweet_id: str, where: str) -> tuple[str, int]:
    """The comment's id (the first version's) and the revision of this version."""
    history = tweet.get("edit_history")
    if history is None:
        return tweet_id, 0
    history = _object(history, f"{where}.edit_history")
    initial = _id(history.get("initial_tweet_id"), f"{where}.edit_history.initial_tweet_id")
    chain = [
        _id(v, f"{where}.edit_history.edit_tweet_ids[{i}]")
        for i, v in enumerate(
            _array(history.get("edit_tweet_ids") or [], f"{where}.edit_history.edit_tweet_ids")
        )
    ]
    if initial == tweet_id:
        return tweet_id, 0
    # An edit missing from its own chain is at least the version after the last listed one.
    position = chain.index(tweet_id) if tweet_id in chain else len(chain)
    return initial, max(position, 1)


def _tweet(tweet: Mapping[str, Any], source: str, context: Context, where: str) -> Comment | str:
    """A comment, or the reason the tweet is not one."""
    tweet_id = _id_str(tweet, where)
    user = _object(tweet.get("user"), f"{where}.user")
    author_id = _id_str(user, f"{where}.user")
    if tweet.get("retweeted_status") is not None:
        return "retweet"
    if author_id == source:
        return "own_post"
    text = _text(tweet, where)
    reply_to = _optional_id(tweet, "in_reply_to_status_id_str", where)
    reply_to_user = _optional_id(tweet, "in_reply_to_user_id_str", where)
    quoted = _optional_id(tweet, "quoted_status_id_str", where)
    comment_id, revision = _edit(tweet, tweet_id, where)
    if reply_to is not None:
        # A reply to the account's own post is a top-level comment on that post.
        parent_id = None if reply_to_user == source else reply_to
        post_id = reply_to
    else:
        parent_id = None
        post_id = quoted or comment_id
    screen_name = _optional_text(user, "screen_name", f"{where}.user")
    name = _optional_text(user, "name", f"{where}.user")
    handle = screen_name if screen_name and _SCREEN_NAME.match(screen_name) else "i/web"
    created = _optional_text(tweet, "created_at", where)
    lang = _optional_text(tweet, "lang", where)
    return build_comment(
        context,
        platform=PLATFORM,
        source=source,
        comment_id=comment_id,
        text=text,
        author_id=author_id,
        author_name=name or screen_name,
        post_id=post_id,
        parent_id=parent_id,
        revision=revision,
        kind=CommentKind.EDITED if revision else CommentKind.CREATED,
        created_at=parse_created_at(created, f"{where}.created_at") if created else None,
        url=f"https://x.com/{handle}/status/{tweet_id}",
        lang=lang if lang and lang != "und" else None,
    )


def _delete(event: Mapping[str, Any], source: str, context: Context, where: str) -> Comment | str:
    """``{"status": {"id", "user_id"}, "timestamp_ms"}``: ids are strings here, not ``*_str``."""
    status = _object(event.get("status"), f"{where}.status")
    tweet_id = _id(status.get("id"), f"{where}.status.id")
    author_id = _id(status.get("user_id"), f"{where}.status.user_id")
    if author_id == source:
        return "own_post"
    stamp = event.get("timestamp_ms")
    return build_comment(
        context,
        platform=PLATFORM,
        source=source,
        comment_id=tweet_id,
        text="",
        author_id=author_id,
        post_id=tweet_id,
        revision=0 if stamp is None else _timestamp_ms(stamp, f"{where}.timestamp_ms"),
        kind=CommentKind.DELETED,
    )


def parse(body: bytes, context: Context) -> Parsed:
    data = load_json_object(body)
    comments: list[Comment] = []
    ignored: list[str] = []
    source: str | None = None
    for key, value in data.items():
        if key in _METADATA:
            continue
        if key in ("tweet_create_events", "tweet_delete_events"):
            source = source or _id(data.get("for_user_id"), "for_user_id")
            handle = _tweet if key == "tweet_create_events" else _delete
            for i, item in enumerate(_array(value, key)):
                where = f"{key}[{i}]"
                result = handle(_object(item, where), source, context, where)
                if isinstance(result, str):
                    ignored.append(result)
                else:
                    comments.append(result)
        elif key in _IGNORED_ARRAYS:
            for i, item in enumerate(_array(value, key)):
                kind = _object(item, f"{key}[{i}]").get("type")
                typed = isinstance(kind, str) and kind in _TYPED_REASONS
                ignored.append(str(kind) if typed else _IGNORED_ARRAYS[key])
        elif key in _IGNORED_OBJECTS:
            ignored.append(_IGNORED_OBJECTS[key])
        else:
            ignored.extend(["unknown"] * (len(value) if isinstance(value, list) else 1))
    return Parsed(comments=tuple(comments), ignored=tuple(ignored))


class XAdapter(SecretBacked):
    """``/webhooks/x``: the CRC on GET; on POST, ``X-Twitter-Webhooks-Signature:
    sha256=<base64 HMAC-SHA256 of the body>`` under the app's consumer secret."""

    platform = PLATFORM
    path = "/webhooks/x"
    secret_setting = SECRET_SETTING
    signature_header = "X-Twitter-Webhooks-Signature"
    content_types = ("application/json",)
    accepted_status = 200

    def __init__(self, settings: IngestSettings) -> None:
        self._secrets = secret_values(settings.x_consumer_secret)

    def handshake(self, request: InboundRequest) -> Reply:
        """Answer with the current secret (the first one): X checks its own, not a list."""
        if not self._secrets:
            raise Rejected(503, f"{SECRET_SETTING} is not configured", "no_secret")
        token = request.query.get("crc_token")
        if not token:
            raise Rejected(400, "missing crc_token query parameter", "bad_handshake")
        try:
            response_token = crc_response(self._secrets[0], token)
        except UnicodeEncodeError:
            raise Rejected(400, "crc_token is not valid text", "bad_handshake") from None
        body = json.dumps({"response_token": response_token}).encode()
        return Reply(status=200, body=body, media_type="application/json")

    def verify(self, request: InboundRequest, now: datetime) -> Verdict:
        return signature.verify(
            request.headers.get(SIGNATURE_HEADER), request.body, self._secrets, encoding="base64"
        )

    def delivery_id(self, request: InboundRequest) -> str | None:
        return None  # X names no delivery: the shell uses the body's hash.

    def parse(self, request: InboundRequest, context: Context) -> Parsed:
        return parse(request.body, context)


def platform_headers(body: bytes, secret: bytes, now: datetime) -> dict[str, str]:
    """The signing header X sends with ``body``."""
    return {SIGNATURE_HEADER: signature.sign(secret, body, encoding="base64")}
