"""Meta webhooks: Facebook Pages, Instagram and WhatsApp Business on one route.

Meta signs every POST with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`` of the bytes it
sends, keyed with the app secret. Those bytes escape non-ASCII characters (``\\u00e9``), so
the signature is checked on the raw body as received, never on JSON serialised again.

A delivery is ``{"object": ..., "entry": [{"id", "time", "changes": [{"field", "value"}]}]}``
and batches events: one ``entry`` per page or account, one ``change`` per event. ``object``
tells the product: ``page`` (Facebook, comments of the ``feed`` field, the ``mention`` field),
``instagram`` (``comments``, ``live_comments``, ``mentions``) or ``whatsapp_business_account``
(``messages``: a text message becomes a comment whose post is the conversation, that is the
sender's number). Messenger's ``messaging`` arrays, receipts, reactions, likes, posts and
shares, unknown objects and fields are counted in ``Parsed.ignored``, not refused.

Ids: ``source`` is the page or Instagram account (``entry.id``), or for WhatsApp the business
phone number id. A Facebook top-level comment names its post as ``parent_id``: its canonical
parent is then ``None``. Legacy Facebook payloads name the author ``sender_id`` (a number) and
``sender_name`` instead of ``from``; a comment without any author gets the id ``unknown``.

Revisions: edits, deletes, hides and unhides take the time of the event (``created_time``,
unix seconds in current payloads, an ISO 8601 string in older ones; else ``entry.time``). An
edit without any time is skipped as ``undated_edit``: revision 0 would alias the creation.

Own comments: a new or edited comment written by the page or account itself (``from.id`` equal
to ``entry.id``) is counted as ``own_post``. Deletes and hides of such comments still pass:
they change the state of a comment, whoever wrote it.

Mentions: Facebook ``mention`` changes usually carry the text of the post or comment that
mentions the page, and become comments. Instagram ``mentions`` changes carry only the ids of
the media and comment; reading their text would need a Graph API call with the account's
token. Vigie does not call the Graph API (ingest holds no platform token and spends no API
quota), so a mention without text is counted as ``mention_without_text``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.ingest import signature
from services.ingest.adapters.base import (
    NO_SOURCE,
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
)
from services.ingest.settings import IngestSettings
from shared.events import Comment, CommentKind
from shared.settings import secret_values

PLATFORM = "meta"
FACEBOOK, INSTAGRAM, WHATSAPP = "facebook", "instagram", "whatsapp"
SIGNATURE_HEADER = "x-hub-signature-256"
VERIFY_TOKEN_SETTING = "VIGIE_META_VERIFY_TOKEN"
UNKNOWN_AUTHOR = "unknown"

_OBJECTS = {"page": FACEBOOK, "instagram": INSTAGRAM, "whatsapp_business_account": WHATSAPP}
_CHALLENGE = re.compile(r"^[A-Za-z0-9._~-]{1,256}\Z")
_IDENT = re.compile(r"^[\x21-\x7e]{1,256}\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Seconds since 1970 stay below this until the year 5138; larger values are milliseconds.
_MILLISECONDS_FROM = 10**11

_VERBS = {
    "add": CommentKind.CREATED,
    "edited": CommentKind.EDITED,
    "edit": CommentKind.EDITED,
    "update": CommentKind.EDITED,
    "remove": CommentKind.DELETED,
    "delete": CommentKind.DELETED,
    "hide": CommentKind.HIDDEN,
    "unhide": CommentKind.UNHIDDEN,
}
_FEED_COMMENTS = frozenset({"comment", "reply"})
_FEED_IGNORED = {
    "reaction": "reaction",
    "like": "like",
    "share": "share",
    **dict.fromkeys(
        ("post", "status", "photo", "video", "album", "event", "note", "link", "story"), "post"
    ),
}
_NEW_TEXT = (CommentKind.CREATED, CommentKind.EDITED)


@dataclass(frozen=True, slots=True)
class _Entry:
    source: str
    time: datetime | None


@dataclass(slots=True)
class _Out:
    context: Context
    comments: list[Comment] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


# --- reading values: every unexpected shape is a PayloadError naming the field ---------------


def _invalid(path: str, error: str) -> PayloadError:
    return PayloadError(
        f"invalid Meta payload: {path} {error}", errors=[{"field": path, "error": error}]
    )


def _object(data: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise _invalid(f"{path}.{key}", "must be an object")
    return value


def _opt_object(data: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(f"{path}.{key}", "must be an object")
    return value


def _opt_list(data: Mapping[str, Any], key: str, path: str) -> list[Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _invalid(f"{path}.{key}", "must be a list")
    return value


def _word(data: Mapping[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise _invalid(f"{path}.{key}", "must be a string")
    return value


def _ident(value: Any, path: str) -> str:
    """A Meta id: a string of visible ASCII, or a JSON number (legacy ``sender_id``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _IDENT.match(value):
        raise _invalid(path, "must be an id (1-256 visible ASCII characters, or an integer)")
    return value


def _opt_ident(data: Mapping[str, Any], key: str, path: str) -> str | None:
    value = data.get(key)
    return None if value is None else _ident(value, f"{path}.{key}")


def _opt_text(data: Mapping[str, Any], key: str, path: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{path}.{key}", "must be a string")
    # A lone surrogate (``\ud800``) is valid JSON but cannot be encoded to UTF-8 again.
    return _SURROGATE.sub("\ufffd", value)


def _opt_time(data: Mapping[str, Any], key: str, path: str) -> datetime | None:
    """Unix seconds or milliseconds (a number or a string of digits), or an ISO 8601 string."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    moment: datetime | None = None
    try:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            moment = datetime.fromtimestamp(
                value / 1000 if value >= _MILLISECONDS_FROM else value, UTC
            )
        elif isinstance(value, str) and len(value) <= 64:
            moment = datetime.fromisoformat(value)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if moment is not None and moment.timestamp() >= 0:  # revisions are never negative
            return moment
    except (ValueError, OverflowError, OSError):
        pass
    raise _invalid(f"{path}.{key}", "must be a unix time or an ISO 8601 date")


def _revision(kind: CommentKind, when: datetime | None) -> int:
    if kind is CommentKind.CREATED or when is None:
        return 0
    return epoch_ms(when)


# --- Facebook Pages ---------------------------------------------------------------------------


def _facebook_author(value: Mapping[str, Any], path: str) -> tuple[str, str | None]:
    author = _opt_object(value, "from", path)
    if author is not None:
        author_id = _opt_ident(author, "id", f"{path}.from")
        name = _opt_text(author, "name", f"{path}.from")
    else:
        author_id = _opt_ident(value, "sender_id", path)
        name = _opt_text(value, "sender_name", path)
    return author_id or UNKNOWN_AUTHOR, name


def _facebook_comment(
    value: dict[str, Any], entry: _Entry, path: str, out: _Out, *, mention: bool
) -> None:
    """A ``feed`` comment or reply, or a ``mention`` of the page in a post or a comment."""
    verb = value.get("verb", "add") if mention else _word(value, "verb", path)
    kind = _VERBS.get(verb) if isinstance(verb, str) else None
    if kind is None:
        out.ignored.append("unsupported_verb")
        return
    post_id = _ident(value.get("post_id"), f"{path}.post_id")
    comment_id = _opt_ident(value, "comment_id", path)
    if comment_id is None:
        if not mention:
            raise _invalid(f"{path}.comment_id", "is missing")
        comment_id = post_id  # the page is mentioned in the post itself
    text = _opt_text(value, "message", path)
    if mention and kind in _NEW_TEXT and not text:
        out.ignored.append("mention_without_text")
        return
    author_id, author_name = _facebook_author(value, path)
    if kind in _NEW_TEXT and author_id == entry.source:
        out.ignored.append("own_post")
        return
    parent_id = _opt_ident(value, "parent_id", path)
    if parent_id is not None and (parent_id == post_id or post_id.endswith(f"_{parent_id}")):
        parent_id = None  # Meta names the post as the parent of a top-level comment
    if comment_id == post_id:
        parent_id = None
    created = _opt_time(value, "created_time", path)
    when = created or entry.time
    if kind is CommentKind.EDITED and when is None:
        out.ignored.append("undated_edit")
        return
    out.comments.append(
        build_comment(
            out.context,
            platform=FACEBOOK,
            source=entry.source,
            comment_id=comment_id,
            text=text or "",
            author_id=author_id,
            author_name=author_name,
            post_id=post_id,
            parent_id=parent_id,
            revision=_revision(kind, when),
            kind=kind,
            created_at=created,
        )
    )


def _feed(value: dict[str, Any], entry: _Entry, path: str, out: _Out) -> None:
    item = _word(value, "item", path)
    if item in _FEED_COMMENTS:
        _facebook_comment(value, entry, path, out, mention=False)
    elif item == "mention":
        _facebook_comment(value, entry, path, out, mention=True)
    else:
        out.ignored.append(_FEED_IGNORED.get(item, "unknown_item"))


def _facebook_mention(value: dict[str, Any], entry: _Entry, path: str, out: _Out) -> None:
    _facebook_comment(value, entry, path, out, mention=True)


# --- Instagram --------------------------------------------------------------------------------


def _instagram_author(value: Mapping[str, Any], path: str) -> tuple[str, str | None]:
    author = _opt_object(value, "from", path)
    if author is None:
        return UNKNOWN_AUTHOR, None
    author_id = _opt_ident(author, "id", f"{path}.from")
    return author_id or UNKNOWN_AUTHOR, _opt_text(author, "username", f"{path}.from")


def _instagram_comment(value: dict[str, Any], entry: _Entry, path: str, out: _Out) -> None:
    """``comments`` and ``live_comments``: new comments only (Meta sends no edits or deletes)."""
    key = "id" if value.get("id") is not None else "comment_id"  # Facebook Login documents both
    comment_id = _ident(value.get(key), f"{path}.{key}")
    media = _object(value, "media", path)
    post_id = _ident(media.get("id"), f"{path}.media.id")
    author_id, author_name = _instagram_author(value, path)
    if author_id == entry.source:
        out.ignored.append("own_post")
        return
    parent_id = _opt_ident(value, "parent_id", path)
    out.comments.append(
        build_comment(
            out.context,
            platform=INSTAGRAM,
            source=entry.source,
            comment_id=comment_id,
            text=_opt_text(value, "text", path) or "",
            author_id=author_id,
            author_name=author_name,
            post_id=post_id,
            parent_id=None if parent_id == post_id else parent_id,
        )
    )


def _instagram_mention(value: dict[str, Any], entry: _Entry, path: str, out: _Out) -> None:
    media_id = _ident(value.get("media_id"), f"{path}.media_id")
    comment_id = _opt_ident(value, "comment_id", path)
    text = _opt_text(value, "text", path)
    if not text:
        out.ignored.append("mention_without_text")
        return
    author_id, author_name = _instagram_author(value, path)
    if author_id == entry.source:
        out.ignored.append("own_post")
        return
    out.comments.append(
        build_comment(
            out.context,
            platform=INSTAGRAM,
            source=entry.source,
            comment_id=comment_id or media_id,
            text=text,
            author_id=author_id,
            author_name=author_name,
            post_id=media_id,
        )
    )


# --- WhatsApp ---------------------------------------------------------------------------------


def _whatsapp_messages(value: dict[str, Any], entry: _Entry, path: str, out: _Out) -> None:
    """Text messages become comments; a conversation (the sender's number) is their post."""
    statuses = _opt_list(value, "statuses", path) or []
    out.ignored.extend("receipt" for _ in statuses)
    messages = _opt_list(value, "messages", path)
    if not messages:
        return
    metadata = _object(value, "metadata", path)
    source = _ident(metadata.get("phone_number_id"), f"{path}.metadata.phone_number_id")
    names: dict[str, str] = {}
    for i, contact in enumerate(_opt_list(value, "contacts", path) or []):
        where = f"{path}.contacts[{i}]"
        if not isinstance(contact, dict):
            raise _invalid(where, "must be an object")
        wa_id = _opt_ident(contact, "wa_id", where)
        profile = _opt_object(contact, "profile", where)
        name = _opt_text(profile, "name", f"{where}.profile") if profile else None
        if wa_id is not None and name is not None:
            names[wa_id] = name
    for i, message in enumerate(messages):
        where = f"{path}.messages[{i}]"
        if not isinstance(message, dict):
            raise _invalid(where, "must be an object")
        if _word(message, "type", where) != "text":
            out.ignored.append("unsupported_message")
            continue
        sender = _ident(message.get("from"), f"{where}.from")
        body = _opt_text(_object(message, "text", where), "body", f"{where}.text")
        if body is None:
            raise _invalid(f"{where}.text.body", "is missing")
        out.comments.append(
            build_comment(
                out.context,
                platform=WHATSAPP,
                source=source,
                comment_id=_ident(message.get("id"), f"{where}.id"),
                text=body,
                author_id=sender,
                author_name=names.get(sender),
                post_id=sender,
                created_at=_opt_time(message, "timestamp", where),
            )
        )


# --- the delivery -----------------------------------------------------------------------------

_Handler = Callable[[dict[str, Any], _Entry, str, _Out], None]
_HANDLERS: dict[tuple[str, str], _Handler] = {
    (FACEBOOK, "feed"): _feed,
    (FACEBOOK, "mention"): _facebook_mention,
    (INSTAGRAM, "comments"): _instagram_comment,
    (INSTAGRAM, "live_comments"): _instagram_comment,
    (INSTAGRAM, "mentions"): _instagram_mention,
    (WHATSAPP, "messages"): _whatsapp_messages,
}


def _parse_entry(platform: str, raw: dict[str, Any], path: str, out: _Out) -> None:
    # WhatsApp's entry id is the business account; its comments name the phone number instead.
    source = NO_SOURCE if platform == WHATSAPP else _ident(raw.get("id"), f"{path}.id")
    entry = _Entry(source=source, time=_opt_time(raw, "time", path))
    for key in ("messaging", "standby"):  # Messenger and Instagram Direct messages
        out.ignored.extend("messaging" for _ in _opt_list(raw, key, path) or [])
    changes = _opt_list(raw, "changes", path)
    if changes is None and "field" in raw:
        changes = [raw]  # Business Login for Instagram puts field and value in the entry
    for j, change in enumerate(changes or []):
        where = path if change is raw else f"{path}.changes[{j}]"
        if not isinstance(change, dict):
            raise _invalid(where, "must be an object")
        handler = _HANDLERS.get((platform, _word(change, "field", where)))
        if handler is None:
            out.ignored.append("unknown_field")
            continue
        handler(_object(change, "value", where), entry, f"{where}.value", out)


def parse(body: bytes, context: Context) -> Parsed:
    data = load_json_object(body)
    obj = _word(data, "object", "body")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise _invalid("body.entry", "must be a list")
    platform = _OBJECTS.get(obj)
    if platform is None:
        return Parsed(ignored=("unknown_object",))
    out = _Out(context)
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise _invalid(f"body.entry[{i}]", "must be an object")
        _parse_entry(platform, raw, f"body.entry[{i}]", out)
    return Parsed(comments=tuple(out.comments), ignored=tuple(out.ignored))


def _any_matches(given: bytes, secrets: Sequence[bytes]) -> bool:
    """Compare with every live value, so timing does not tell which one matched."""
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(secret, given)
    return matched


class MetaAdapter(SecretBacked):
    """``/webhooks/meta``: Facebook Pages, Instagram and WhatsApp, signed with the app secret."""

    platform = PLATFORM
    path = "/webhooks/meta"
    secret_setting = "VIGIE_META_APP_SECRET"
    signature_header = "X-Hub-Signature-256"
    content_types = ("application/json",)
    accepted_status = 200

    def __init__(self, settings: IngestSettings) -> None:
        self._secrets = secret_values(settings.meta_app_secret)
        self._verify_tokens = secret_values(settings.meta_verify_token)

    def handshake(self, request: InboundRequest) -> Reply:
        """Echo ``hub.challenge`` when ``hub.verify_token`` is one of the configured tokens."""
        if not self._verify_tokens:
            raise Rejected(503, f"{VERIFY_TOKEN_SETTING} is not configured", "no_secret")
        if request.query.get("hub.mode") != "subscribe":
            raise Rejected(403, "hub.mode must be 'subscribe'", "bad_handshake")
        token = request.query.get("hub.verify_token")
        given = token.encode("utf-8", "surrogatepass") if token is not None else None
        if given is None or not _any_matches(given, self._verify_tokens):
            raise Rejected(403, "hub.verify_token does not match", "bad_token")
        challenge = request.query.get("hub.challenge", "")
        if not _CHALLENGE.match(challenge):
            raise Rejected(
                403, "hub.challenge must be 1-256 of A-Z a-z 0-9 . _ ~ -", "bad_handshake"
            )
        return Reply(status=200, body=challenge.encode(), media_type="text/plain")

    def verify(self, request: InboundRequest, now: datetime) -> Verdict:
        return signature.verify(request.headers.get(SIGNATURE_HEADER), request.body, self._secrets)

    def delivery_id(self, request: InboundRequest) -> str | None:
        return None  # Meta sends no delivery id; the shell uses the body's hash

    def parse(self, request: InboundRequest, context: Context) -> Parsed:
        return parse(request.body, context)


def platform_headers(body: bytes, secret: bytes, now: datetime) -> dict[str, str]:
    """The signing header Meta sends with ``body`` (for simulation, tests and bench)."""
    return {SIGNATURE_HEADER: signature.sign(secret, body)}
