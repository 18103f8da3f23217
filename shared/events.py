"""Wire contracts: the events that travel between Vigie's services.

Every event is a frozen pydantic model that forbids unknown fields, carries a
``schema_version``, a stable ``event_id`` (derived from what the event is about, so a
redelivered input yields the same output id) and the ``trace_id`` of the comment that
started the flow. Schemas change additively only; ``tests/unit/shared`` pins old payloads.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
_NAMESPACE = uuid.UUID("6f1c1d4e-9a53-4c36-9d55-0d2f61a2f0a7")


def derive_id(*parts: str) -> uuid.UUID:
    """A stable id for the thing named by ``parts`` (uuid5), so retries reproduce it."""
    return uuid.uuid5(_NAMESPACE, "\x1f".join(parts))


class Label(StrEnum):
    SENSITIVE = "sensitive"
    ABUSIVE = "abusive"
    QUESTION = "question"
    PRAISE = "praise"


class Severity(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = [Severity.NONE, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(_Model):
    schema_version: int = SCHEMA_VERSION
    event_id: uuid.UUID
    trace_id: str = Field(min_length=1, max_length=64)
    occurred_at: datetime


class Author(_Model):
    id: str = Field(min_length=1, max_length=256)
    name: str | None = Field(default=None, max_length=512)


class CommentKind(StrEnum):
    CREATED = "created"
    EDITED = "edited"
    DELETED = "deleted"
    HIDDEN = "hidden"
    UNHIDDEN = "unhidden"


class CommentRef(_Model):
    """What identifies one revision of a comment across platforms."""

    platform: str
    comment_id: str
    revision: int = 0

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.comment_id}:{self.revision}"


class Comment(Event):
    """One comment, reply, mention, edit or delete, normalised from any platform."""

    platform: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=128, description="Account, page or feed.")
    comment_id: str = Field(min_length=1, max_length=512)
    revision: int = Field(default=0, ge=0)
    kind: CommentKind = CommentKind.CREATED
    text: str
    author: Author
    post_id: str = Field(min_length=1, max_length=256)
    parent_id: str | None = Field(default=None, max_length=512)
    thread_id: str = Field(min_length=1, max_length=512)
    created_at: datetime | None = None
    received_at: datetime
    url: str | None = None
    lang: str | None = Field(default=None, description="The platform's language hint.")
    delivery_id: str

    @property
    def ref(self) -> CommentRef:
        return CommentRef(
            platform=self.platform, comment_id=self.comment_id, revision=self.revision
        )

    @property
    def partition_key(self) -> str:
        return f"{self.platform}:{self.thread_id}"


class Classification(_Model):
    labels: tuple[Label, ...]
    categories: tuple[str, ...] = ()
    severity: Severity
    scores: dict[Label, float]
    unsure: tuple[Label, ...] = ()
    lang: str
    rationale: str
    model_version: str


class ClassifiedComment(Event):
    comment: Comment
    classification: Classification


class Channel(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"  # chat.postMessage with the bot token; target: the channel id
    SLACK_WEBHOOK = "slack_webhook"  # incoming webhook; target: the name of its URL setting
    TEAMS = "teams"  # workflow webhook; target: the name of its URL setting
    EMAIL = "email"  # SMTP; target: one or more addresses, comma-separated
    PAGERDUTY = "pagerduty"  # Events API v2; target: the name of the routing key setting
    SMS = "sms"  # Twilio; target: one or more E.164 numbers, comma-separated
    META = "meta"  # Graph API reply / hide; target: the name of the page token setting
    X = "x"  # X API v2 reply; target: the name of the account's token setting


class Receiver(_Model):
    """Where an alert goes; secrets stay in the notifier's settings, never here.

    ``url`` is the signed webhook's address (empty for the other channels); ``target`` is
    what the other channels address (see ``Channel``), never a secret.
    """

    name: str
    channel: Channel
    url: str = ""
    target: str | None = Field(default=None, max_length=1024)


class ActionKind(StrEnum):
    NOTIFY = "notify"
    REPLY = "reply"
    HIDE = "hide"
    QUEUE = "queue"
    ACKNOWLEDGE = "acknowledge"  # the case was acknowledged: pagers stop paging
    RESOLVE = "resolve"  # the case was resolved: incidents close
    LIKE = "like"  # like the comment on its platform (praise)


class Action(Event):
    action_id: str = Field(description="Idempotency key: the same decision always has the same id.")
    kind: ActionKind
    case_id: uuid.UUID
    receiver: Receiver
    severity: Severity
    labels: tuple[Label, ...]
    categories: tuple[str, ...] = ()
    comment: CommentRef
    comment_url: str | None = None
    case_opened_at: datetime
    policy_version: str
    route: str
    fallback: Receiver | None = Field(
        default=None, description="Tried when the receiver fails after its last retry."
    )
    ack_url: str | None = Field(default=None, description="The router's signed ack link.")
    resolve_url: str | None = Field(default=None, description="The router's signed resolve link.")
    message: str | None = Field(
        default=None, description="reply: the approved text, already rendered by the router."
    )
    lang: str | None = Field(default=None, max_length=16, description="Language of the message.")
    comment_text: str | None = Field(
        default=None,
        description="Only for labels that are not sensitive, and shown only if a setting allows.",
    )


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"  # a send was interrupted and could not be safely repeated


class DeliveryResult(Event):
    action_id: str
    case_id: uuid.UUID
    receiver: str
    channel: Channel
    outcome: DeliveryOutcome
    attempts: int = Field(ge=0)
    status_code: int | None = None
    error: str | None = None
    dead_lettered: bool = Field(default=False, description="The action went to the DLQ.")
    fallback: str | None = Field(default=None, description="The fallback receiver handed to.")
    reference: str | None = Field(
        default=None, description="The provider's id of what was sent (message, incident...)."
    )


class CaseStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class CaseEventKind(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


class CaseEvent(Event):
    case_id: uuid.UUID
    kind: CaseEventKind
    status: CaseStatus
    severity: Severity
    labels: tuple[Label, ...]
    comment: CommentRef | None = None
    policy_version: str
    reason: str


class RawWebhook(Event):
    """A verified webhook exactly as received, kept for audit and replay.

    ``source`` is the route's source (the generic source's name) or ``"-"`` when the route
    has none; ``path_params`` and ``outcome`` (what ingest made of it) were added in v1.1.
    """

    platform: str
    source: str
    delivery_id: str
    headers: dict[str, str]
    body: bytes = Field(description="The raw body, base64 in JSON.")
    encoding: Literal["base64"] = "base64"
    path_params: dict[str, str] = Field(default_factory=dict)
    outcome: str | None = None


class SourceChanged(Event):
    """A platform says an item (a YouTube video) has new activity to fetch."""

    platform: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=128, description="Channel or account.")
    item_id: str = Field(min_length=1, max_length=256)
