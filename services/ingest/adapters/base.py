"""What every platform adapter provides, and the values it exchanges with the HTTP shell.

An adapter is pure: it sees the request as bytes, headers and query parameters, and returns
comments, non-comment items, and the answer a handshake needs. The shell (``api.py``) owns
I/O: bounded reading, de-duplication, publishing, metrics and the HTTP answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import ValidationError

from shared.events import Author, Comment, CommentKind, SourceChanged, derive_id


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A request as the platform sent it; header names are lower-case."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    path_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer the platform expects in the body (handshakes, challenges)."""

    status: int
    body: bytes
    media_type: str = "text/plain"


class Rejected(Exception):
    """The request is refused before parsing; ``reason`` is safe to return to the caller.

    ``outcome`` is the metric label: a short fixed word, never an id or a value from input.
    """

    def __init__(self, status: int, reason: str, outcome: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.outcome = outcome


class PayloadError(ValueError):
    """The verified body cannot be normalised; ``reason`` is safe to return to the caller.

    ``errors`` names the offending fields (answered 422); without them the answer is 400.
    """

    def __init__(self, reason: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or []

    @property
    def status(self) -> int:
        return 422 if self.errors else 400


class Verdict(StrEnum):
    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    MISMATCH = "mismatch"
    STALE = "stale"  # signed timestamp outside the replay window


@dataclass(frozen=True, slots=True)
class Context:
    """What the shell knows about this delivery when the adapter parses it."""

    received_at: datetime
    delivery_id: str
    trace_id: str


@dataclass(frozen=True, slots=True)
class Parsed:
    """The result of one delivery.

    ``ignored`` holds one reason per valid item that is not a comment (``"reaction"``,
    ``"receipt"`` ...): a short fixed word, used as a metric label. ``reply`` is set when the
    platform expects an answer body (Slack's ``url_verification``). ``changes`` are notices
    that an item has new activity to fetch (YouTube's WebSub pings).
    """

    comments: tuple[Comment, ...] = ()
    ignored: tuple[str, ...] = ()
    reply: Reply | None = None
    changes: tuple[SourceChanged, ...] = ()


class Adapter(Protocol):
    """One platform's webhook: handshake, signature, normalisation."""

    @property
    def platform(self) -> str:
        """Route name and metric label: ``meta``, ``x``, ``youtube`` ..."""
        ...

    @property
    def path(self) -> str:
        """The route, e.g. ``/webhooks/meta``; may hold path parameters."""
        ...

    @property
    def secret_setting(self) -> str:
        """The environment variable that holds the signing secret, for error messages."""
        ...

    @property
    def signature_header(self) -> str:
        """The header that carries the signature, as the platform spells it."""
        ...

    @property
    def content_types(self) -> tuple[str, ...]:
        """Accepted POST content types (lower-case, without parameters)."""
        ...

    @property
    def accepted_status(self) -> int:
        """The 2xx status of an accepted POST (what the platform documents, usually 200)."""
        ...

    def configured(self) -> bool:
        """Whether the secrets needed to verify a POST are set."""
        ...

    def route_source(self, request: InboundRequest) -> str:
        """The source named by the route (validated, else ``Rejected``), or ``NO_SOURCE``."""
        ...

    def handshake(self, request: InboundRequest) -> Reply:
        """Answer the platform's GET verification; raise ``Rejected`` when it fails."""
        ...

    def verify(self, request: InboundRequest, now: datetime) -> Verdict:
        """Check the POST's signature (and signed timestamp) in constant time."""
        ...

    def delivery_id(self, request: InboundRequest) -> str | None:
        """The platform's id of this delivery, if it sends one (else the body's hash is used)."""
        ...

    def parse(self, request: InboundRequest, context: Context) -> Parsed:
        """Normalise a verified POST; raise ``PayloadError`` when the body cannot be read."""
        ...


NO_SOURCE = "-"


class SecretBacked:
    """What the adapters of platforms with one route and one signing secret share."""

    _secrets: tuple[bytes, ...] = ()

    def configured(self) -> bool:
        return bool(self._secrets)

    def route_source(self, request: InboundRequest) -> str:
        return NO_SOURCE


def no_handshake(platform: str) -> Rejected:
    """The GET answer of platforms that have no verification handshake."""
    return Rejected(405, f"{platform} webhooks are POST only", "method_not_allowed")


def load_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a ``PayloadError`` saying why not."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON and integers longer than Python accepts;
        # RecursionError, nesting deeper than the parser goes.
        reason = str(exc) if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise PayloadError(f"body is not valid JSON: {reason}") from exc
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    return data


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"field": ".".join(str(p) for p in e["loc"]), "error": e["msg"]} for e in exc.errors()]


def comment_event_id(platform: str, comment_id: str, revision: int, kind: CommentKind) -> Any:
    """The event id of one revision of a comment; deletes and hides get ids of their own."""
    if kind in (CommentKind.CREATED, CommentKind.EDITED):
        return derive_id("comment", platform, comment_id, str(revision))
    return derive_id("comment", platform, comment_id, str(revision), kind.value)


def without_surrogates(value: str) -> str:
    """``value`` with lone UTF-16 surrogates and NUL characters replaced by U+FFFD.

    Neither can be stored: UTF-8 has no lone surrogates, PostgreSQL text has no NUL.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value.replace("\x00", "\ufffd")


def epoch_ms(moment: datetime) -> int:
    """A revision number from an edit's time, for platforms that do not number revisions."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def build_comment(
    context: Context,
    *,
    platform: str,
    source: str,
    comment_id: str,
    text: str,
    author_id: str,
    post_id: str,
    author_name: str | None = None,
    parent_id: str | None = None,
    revision: int = 0,
    kind: CommentKind = CommentKind.CREATED,
    created_at: datetime | None = None,
    url: str | None = None,
    lang: str | None = None,
) -> Comment:
    """A ``Comment`` with the ids every adapter derives the same way.

    ``parent_id`` is the comment this one answers, ``None`` for a top-level comment (never
    the post id). The thread is the top-level comment's id: the parent's, or the comment's own.
    Raises ``PayloadError`` when a value breaks the event's limits. Lone surrogates (JSON
    allows ``"\\ud800"``) and NUL characters (``"\\u0000"``) cannot be published or stored:
    in text they become U+FFFD, in ids they are an error.
    """
    text = without_surrogates(text)
    author_name = without_surrogates(author_name) if author_name is not None else None
    ids = (source, comment_id, author_id, post_id, parent_id or "", url or "", lang or "")
    if any(i != without_surrogates(i) for i in ids):
        raise PayloadError("ids must be valid Unicode (no lone surrogates, no NUL)")
    try:
        return Comment(
            event_id=comment_event_id(platform, comment_id, revision, kind),
            trace_id=context.trace_id,
            occurred_at=context.received_at,
            platform=platform,
            source=source,
            comment_id=comment_id,
            revision=revision,
            kind=kind,
            text=text,
            author=Author(id=author_id, name=author_name),
            post_id=post_id,
            parent_id=parent_id,
            thread_id=parent_id or comment_id,
            created_at=created_at,
            received_at=context.received_at,
            url=url,
            lang=lang,
            delivery_id=context.delivery_id,
        )
    except ValidationError as exc:
        raise PayloadError(
            f"comment cannot be normalised: {', '.join(e['field'] for e in field_errors(exc))}",
            errors=field_errors(exc),
        ) from exc
