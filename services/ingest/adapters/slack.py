"""Slack Events API: ``POST /webhooks/slack``, one event per delivery.

Slack signs ``v0:<X-Slack-Request-Timestamp>:<raw body>`` with HMAC-SHA256 under the app's
signing secret (``X-Slack-Signature: v0=<hex>``). A request whose signed timestamp is further
than ``VIGIE_SLACK_REPLAY_WINDOW_S`` from now is STALE even when its signature is valid: that
is the replay protection Slack documents. A missing timestamp header is MISSING (a signing
header is absent, like a missing signature); one that is not a plain number of seconds is
MALFORMED.

Slack has no GET handshake: the Request URL is verified by a signed POST of type
``url_verification`` whose ``challenge`` is answered as ``text/plain``.

A message is stored as ``<channel>:<ts>`` (``ts`` is Slack's id of a message within its
channel); its post is the thread, ``<channel>:<thread_ts>``, or the message itself when it
starts no thread. Every id comes from the payload, so a retry (``X-Slack-Retry-Num``) yields
the same event ids. Edits are revisions numbered by ``edited.ts`` in milliseconds.

``app_mention`` events are ignored: Vigie reads ``message.*`` events, which carry the same
message (and its edits and deletes); counting the mention too would only duplicate it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from services.ingest import signature
from services.ingest.adapters.base import (
    Context,
    InboundRequest,
    Parsed,
    PayloadError,
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

PLATFORM = "slack"
SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_PREFIX = "v0="
UNKNOWN_AUTHOR = "unknown"

_TIMESTAMP = re.compile(r"^[0-9]{1,12}\Z")
# Slack's message ids: seconds, a dot, microseconds ("1355517523.000005").
_TS = re.compile(r"^([0-9]{1,11})(?:\.([0-9]{1,6}))?\Z")
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
_MAX_CHALLENGE = 1024

# Subtypes whose text a person wrote: they are comments like a plain message.
_USER_SUBTYPES = frozenset({"thread_broadcast", "file_share", "me_message"})
_MEMBERSHIP_SUBTYPES = frozenset({"channel_join", "channel_leave", "group_join", "group_leave"})
_EVENT_REASONS = {
    "app_mention": "app_mention",
    "reaction_added": "reaction",
    "reaction_removed": "reaction",
    "member_joined_channel": "membership",
    "member_left_channel": "membership",
}


def _ts_time(value: str) -> datetime:
    match = _TS.match(value)
    if match is None:
        raise PayloadError(f"not a Slack timestamp: {value[:40]!r}")
    seconds, fraction = match.groups()
    micros = int((fraction or "").ljust(6, "0"))
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)


def _ts(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{key} must be a Slack timestamp string")
    _ts_time(value)
    return value


def _optional_ts(data: dict[str, Any], key: str, where: str) -> str | None:
    return None if data.get(key) is None else _ts(data, key, where)


def _string(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{where}.{key} must be a non-empty string")
    return value


def _object(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"{where}.{key} must be an object")
    return value


def _text(data: dict[str, Any], where: str) -> str:
    value = data.get("text")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{where}.text must be a string")
    return value


def _is_bot(message: dict[str, Any]) -> bool:
    return message.get("bot_id") is not None or message.get("subtype") == "bot_message"


def _url(message: dict[str, Any]) -> str | None:
    link = message.get("permalink")
    return link if isinstance(link, str) and link.startswith("https://") else None


class _Message:
    """The ids of one Slack message in one channel."""

    def __init__(self, channel: str, message: dict[str, Any], where: str) -> None:
        self.ts = _ts(message, "ts", where)
        thread_ts = _optional_ts(message, "thread_ts", where)
        self.comment_id = f"{channel}:{self.ts}"
        self.parent_id = f"{channel}:{thread_ts}" if thread_ts and thread_ts != self.ts else None
        self.post_id = self.parent_id or self.comment_id


def _comment(
    context: Context,
    team: str,
    ids: _Message,
    *,
    text: str,
    author_id: str,
    kind: CommentKind = CommentKind.CREATED,
    revision: int = 0,
    url: str | None = None,
) -> Comment:
    return build_comment(
        context,
        platform=PLATFORM,
        source=team,
        comment_id=ids.comment_id,
        text=text,
        author_id=author_id,
        post_id=ids.post_id,
        parent_id=ids.parent_id,
        revision=revision,
        kind=kind,
        created_at=_ts_time(ids.ts),
        url=url,
    )


def _previous_author(event: dict[str, Any]) -> str:
    previous = event.get("previous_message")
    user = previous.get("user") if isinstance(previous, dict) else None
    return user if isinstance(user, str) and user else UNKNOWN_AUTHOR


def _changed(context: Context, team: str, channel: str, event: dict[str, Any]) -> Parsed:
    message = _object(event, "message", "event")
    if _is_bot(message):
        return Parsed(ignored=("bot",))
    ids = _Message(channel, message, "event.message")
    if message.get("subtype") == "tombstone":
        # A thread root deleted while it has replies stays as a tombstone: a delete.
        revision = epoch_ms(_ts_time(_ts(event, "ts", "event")))
        comment = _comment(
            context,
            team,
            ids,
            text="",
            author_id=_previous_author(event),
            kind=CommentKind.DELETED,
            revision=revision,
        )
        return Parsed(comments=(comment,))
    edited = message.get("edited")
    if not isinstance(edited, dict) or edited.get("ts") is None:
        # Unfurls and metadata updates change the message without an edit by its author.
        return Parsed(ignored=("not_edited",))
    revision = epoch_ms(_ts_time(_ts(edited, "ts", "event.message.edited")))
    comment = _comment(
        context,
        team,
        ids,
        text=_text(message, "event.message"),
        author_id=_string(message, "user", "event.message"),
        kind=CommentKind.EDITED,
        revision=revision,
        url=_url(message),
    )
    return Parsed(comments=(comment,))


def _deleted(context: Context, team: str, channel: str, event: dict[str, Any]) -> Parsed:
    deleted_ts = _ts(event, "deleted_ts", "event")
    previous = event.get("previous_message")
    if isinstance(previous, dict) and _is_bot(previous):
        return Parsed(ignored=("bot",))
    # Without the previous message the thread is unknown: the delete names the message only.
    known = previous if isinstance(previous, dict) and previous.get("ts") == deleted_ts else {}
    ids = _Message(channel, {**known, "ts": deleted_ts}, "event.previous_message")
    comment = _comment(
        context,
        team,
        ids,
        text="",
        author_id=_previous_author(event),
        kind=CommentKind.DELETED,
        revision=epoch_ms(_ts_time(_ts(event, "ts", "event"))),
    )
    return Parsed(comments=(comment,))


def _message(context: Context, team: str, event: dict[str, Any]) -> Parsed:
    subtype = event.get("subtype")
    if subtype is not None and not isinstance(subtype, str):
        raise PayloadError("event.subtype must be a string")
    if subtype == "bot_message" or event.get("bot_id") is not None:
        return Parsed(ignored=("bot",))
    if subtype in _MEMBERSHIP_SUBTYPES:
        return Parsed(ignored=("membership",))
    if subtype == "message_replied" or (subtype is None and event.get("hidden") is True):
        # The thread root's reply count changed (Slack may omit the subtype): not a comment.
        return Parsed(ignored=("message_replied",))
    if subtype is not None and subtype not in _USER_SUBTYPES | {
        "message_changed",
        "message_deleted",
    }:
        return Parsed(ignored=("unsupported_subtype",))
    channel = _string(event, "channel", "event")
    if subtype == "message_changed":
        return _changed(context, team, channel, event)
    if subtype == "message_deleted":
        return _deleted(context, team, channel, event)
    comment = _comment(
        context,
        team,
        _Message(channel, event, "event"),
        text=_text(event, "event"),
        author_id=_string(event, "user", "event"),
        url=_url(event),
    )
    return Parsed(comments=(comment,))


def parse(body: bytes, context: Context) -> Parsed:
    data = load_json_object(body)
    kind = data.get("type")
    if kind == "url_verification":
        challenge = data.get("challenge")
        if not isinstance(challenge, str) or not 0 < len(challenge) <= _MAX_CHALLENGE:
            raise PayloadError(f"challenge must be a string of 1-{_MAX_CHALLENGE} characters")
        return Parsed(reply=Reply(200, challenge.encode(), "text/plain"))
    if kind == "app_rate_limited":
        return Parsed(ignored=("rate_limited",))
    if kind != "event_callback":
        if not isinstance(kind, str):
            raise PayloadError("type must be a string")
        return Parsed(ignored=("unsupported_type",))
    team = _string(data, "team_id", "body")
    event = _object(data, "event", "body")
    event_type = event.get("type")
    if not isinstance(event_type, str):
        raise PayloadError("event.type must be a string")
    if event_type != "message":
        return Parsed(ignored=(_EVENT_REASONS.get(event_type, "unsupported_event"),))
    return _message(context, team, event)


class SlackAdapter(SecretBacked):
    """``POST /webhooks/slack``: Events API callbacks, signed ``v0=`` over timestamp and body."""

    platform = PLATFORM
    path = "/webhooks/slack"
    secret_setting = "VIGIE_SLACK_SIGNING_SECRET"
    signature_header = "X-Slack-Signature"
    content_types = ("application/json",)
    accepted_status = 200

    def __init__(self, settings: IngestSettings) -> None:
        self._secrets = secret_values(settings.slack_signing_secret)
        self._window_s = settings.slack_replay_window_s

    def handshake(self, request: InboundRequest) -> Reply:
        raise no_handshake(PLATFORM)

    def verify(self, request: InboundRequest, now: datetime) -> Verdict:
        header = request.headers.get(SIGNATURE_HEADER)
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if not header or timestamp is None:
            return Verdict.MISSING
        timestamp = timestamp.strip()
        if not _TIMESTAMP.match(timestamp):
            return Verdict.MALFORMED
        signed = b"v0:" + timestamp.encode() + b":" + request.body
        verdict = signature.verify(header, signed, self._secrets, prefix=SIGNATURE_PREFIX)
        if verdict is not Verdict.VALID:
            return verdict
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        age = abs(now.timestamp() - int(timestamp))
        return Verdict.STALE if age > self._window_s else Verdict.VALID

    def delivery_id(self, request: InboundRequest) -> str | None:
        """The ``event_id`` of an event callback; Slack repeats it on retries."""
        try:
            data = load_json_object(request.body)
        except PayloadError:
            return None
        event_id = data.get("event_id")
        if isinstance(event_id, str) and _DELIVERY_ID.match(event_id):
            return event_id
        return None

    def parse(self, request: InboundRequest, context: Context) -> Parsed:
        return parse(request.body, context)


def platform_headers(body: bytes, secret: bytes, now: datetime) -> dict[str, str]:
    """The signing headers Slack sends with ``body`` at ``now``."""
    timestamp = str(int(now.timestamp()))
    signed = b"v0:" + timestamp.encode() + b":" + body
    return {
        SIGNATURE_HEADER: signature.sign(secret, signed, prefix=SIGNATURE_PREFIX),
        TIMESTAMP_HEADER: timestamp,
    }
