"""The schema. One database, one migration history; each table has one writer service.

Every write the pipeline makes is idempotent by a unique key, so at-least-once
redelivery from Kafka never duplicates a row.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer, "sqlite")
UTCDateTime = DateTime(timezone=True)

# Written by the classifier: every revision of every comment it saw.
comments = Table(
    "comments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("platform", String(64), nullable=False),
    Column("source", String(128), nullable=False),
    Column("comment_id", String(512), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("post_id", String(256), nullable=False),
    Column("parent_id", String(512)),
    Column("thread_id", String(512), nullable=False),
    Column("author_id", String(256), nullable=False),
    Column("author_name", String(512)),
    Column("text", Text, nullable=False),
    Column("lang_hint", String(16)),
    Column("url", Text),
    Column("created_at", UTCDateTime),
    Column("received_at", UTCDateTime, nullable=False),
    Column("delivery_id", String(256), nullable=False),
    Column("trace_id", String(64), nullable=False),
    UniqueConstraint("platform", "comment_id", "revision", "kind"),
)

# Written by the classifier: one verdict per comment revision and model version.
classifications = Table(
    "classifications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("platform", String(64), nullable=False),
    Column("comment_id", String(512), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False, server_default="created"),
    Column("labels", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("scores", JSON, nullable=False),
    Column("unsure", JSON, nullable=False),
    Column("lang", String(16), nullable=False),
    Column("rationale", Text, nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("classified_at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "platform",
        "comment_id",
        "revision",
        "kind",
        "model_version",
        name="uq_classifications_version",
    ),
)

# Written by the router.
cases = Table(
    "cases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("group_key", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("route", String(128), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("opened_by", String(800), nullable=False, unique=True),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("acknowledged_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("trace_id", String(64), nullable=False),
    # Since the router's chains (0004): what its timers and the API need about a case.
    Column("categories", JSON),
    Column("opener", JSON),  # the CommentRef of the comment that opened it
    Column("comment_url", Text),
    Column("identity", JSON),  # platform, author_id...: for inhibition, never in the API
    Column("muted_by", String(200)),
    Column("acknowledged_by", String(128)),
    Column("assignee", String(128)),
    Column("reopen_count", Integer),
    Column("answer_due_at", UTCDateTime),
    # At most one case that is not resolved per group: a burst becomes one case.
    Index(
        "uq_cases_open_group",
        "group_key",
        unique=True,
        postgresql_where=text("status <> 'resolved'"),
        sqlite_where=text("status <> 'resolved'"),
    ),
    # The cases of an author: the open ones can inhibit a new comment of theirs.
    Index("ix_cases_author", text("(identity ->> 'author_id')")),
)

case_comments = Table(
    "case_comments",
    metadata,
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("comment_id", String(512), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("case_id", "platform", "comment_id", "revision"),
    Index("ix_case_comments_comment", "platform", "comment_id", "revision"),
)

# Written by the notifier: the idempotency key is stored before anything is sent.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(512), nullable=False, unique=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("receiver", String(128), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("trace_id", String(64), nullable=False),
    # What the channel called the posted message (Slack channel and ts, ...), to update it.
    Column("reference", String(512)),
)

# Append-only record of every automatic and human action.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dedup_key", String(800), nullable=False, unique=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(800), nullable=False),
    Column("policy_version", String(64)),
    Column("reason", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("trace_id", String(64)),
    Index("ix_audit_log_subject", "subject_type", "subject_id"),
)

# Written by ingest: the comment revisions already published, so that a platform's
# redelivery is dropped even after a restart. Pruned after ``VIGIE_DEDUP_RETENTION_DAYS``.
ingest_seen = Table(
    "ingest_seen",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("platform", String(64), nullable=False),
    Column("seen_at", UTCDateTime, nullable=False, index=True),
)

# Written by ingest's YouTube poller: one cursor per tracked video.
youtube_cursors = Table(
    "youtube_cursors",
    metadata,
    Column("video_id", String(64), primary_key=True),
    Column("channel_id", String(128), nullable=False),
    Column("cursor", JSON, nullable=False),
    Column("tracked_until", UTCDateTime, nullable=False),
    Column("next_poll_at", UTCDateTime, nullable=False, index=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Written by the classifier's shadow mode: a second backend's verdict next to the published
# one, for comparison. Never read by the pipeline.
classifier_shadow_verdicts = Table(
    "classifier_shadow_verdicts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("comment_id", String(512), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("scores", JSON, nullable=False),
    Column("unsure", JSON, nullable=False),
    Column("lang", String(16), nullable=False),
    Column("rationale", Text, nullable=False),
    Column("primary_model_version", String(64), nullable=False),
    Column("primary_labels", JSON, nullable=False),
    Column("agrees", Boolean, nullable=False),
    Column("classified_at", UTCDateTime, nullable=False, index=True),
    UniqueConstraint(
        "platform",
        "comment_id",
        "revision",
        "kind",
        "model_version",
        name="uq_classifier_shadow_verdicts_version",
    ),
)

# Written by moderators (``vigie classifier feedback add``): the labels they say are right
# for one comment revision, kept as a labelled example for retraining. Append-only: the
# latest correction of a revision is the one exported.
classifier_feedback = Table(
    "classifier_feedback",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("comment_id", String(512), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("lang", String(16), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("moderator", String(128), nullable=False),
    Column("note", Text),
    Column("corrected_at", UTCDateTime, nullable=False, index=True),
    Column("model_version", String(64)),
    Column("model_labels", JSON),
    Index("ix_classifier_feedback_comment", "platform", "comment_id", "revision"),
)

# Written by the router: what each case waits for, due at ``due_at`` (NULL: nothing more).
# ``chain:<case>`` drives the case's escalation chain; ``page:<action id>`` is a page held
# back by quiet hours. A replica claims a due row with FOR UPDATE SKIP LOCKED in the
# transaction that records the step and its actions, so each step happens once.
case_timers = Table(
    "case_timers",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("chain", String(64)),
    Column("started_at", UTCDateTime),
    Column("notified", Integer, nullable=False),
    Column("reminded", Integer, nullable=False),
    Column("page", JSON),  # for a held-back page: the action to send
    Column("due_at", UTCDateTime, index=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Written by the router: every action it decided for a case (pages, replies, hides...),
# those waiting for a moderator's approval included, as the Action event to publish.
case_actions = Table(
    "case_actions",
    metadata,
    Column("action_id", String(300), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("receiver", String(128)),
    Column("status", String(16), nullable=False),  # pending, emitted, held, skipped
    Column("payload", JSON),
    Column("note", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(128)),
)

# Written by the router: moderators' silences (time-boxed matchers that mute pages).
silences = Table(
    "silences",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("matchers", JSON, nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False, index=True),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expired_at", UTCDateTime),
    Column("expired_by", String(128)),
)

# Written by the router: events committed with the state change that caused them, then
# published by whichever replica claims them (FOR UPDATE SKIP LOCKED). A crash between the
# commit and the publish leaves the row for the next claim; a crash between the publish and
# ``published_at`` republishes it under the same event id, which consumers deduplicate.
router_outbox = Table(
    "router_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("topic", String(255), nullable=False),
    Column("key", Text),
    Column("value", Text, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime),
    Index(
        "ix_router_outbox_pending",
        "id",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
)

# Written by the router's access control: the people who use the console and the API, with a
# role (viewer < moderator < admin). Only an scrypt hash of the password is kept.
users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(512), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
    Column("last_login_at", UTCDateTime),
)

# Written by the router's access control: keys of the machines that call the API. Only the
# SHA-256 of a key is kept (keys are 256-bit random); a revoked key stays on record.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Index(
        "uq_api_keys_live_name",
        "name",
        unique=True,
        postgresql_where=text("revoked_at IS NULL"),
        sqlite_where=text("revoked_at IS NULL"),
    ),
)

# Written by the router's access control: console sessions. The id is the SHA-256 of the
# cookie's value, so that a copy of the table opens no session.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Written by the notifier: the non-critical e-mail pages of each receiver, sent at once
# (``held`` false, counted toward the storm threshold) or held for the receiver's digest.
# A held row keeps the action to send, the window it joined (``window_start``), when that
# window ends (``due_at``) and where the action came from (for the DLQ). A flush claims a
# receiver's due rows for a lease (``claimed_until``), sends one digest whose idempotency key
# is the receiver and the window's start, and marks the rows ``sent_at``.
email_digests = Table(
    "email_digests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("action_id", String(512), nullable=False, unique=True),
    Column("receiver", String(128), nullable=False),
    Column("held", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("window_start", UTCDateTime),
    Column("due_at", UTCDateTime),
    Column("action", Text),
    Column("source_partition", Integer),
    Column("source_offset", BigInteger),
    Column("claimed_until", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Index("ix_email_digests_receiver_created_at", "receiver", "created_at"),
    Index(
        "ix_email_digests_pending",
        "due_at",
        postgresql_where=text("held AND sent_at IS NULL"),
        sqlite_where=text("held AND sent_at IS NULL"),
    ),
)
