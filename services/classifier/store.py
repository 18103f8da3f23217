"""The classifier's tables: comments and their verdicts (written idempotently), shadow
verdicts, and moderator feedback."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.classifier.backends.shadow import ShadowVerdict
from services.classifier.feedback import Correction, training_example
from shared.events import Classification, ClassifiedComment, Comment, CommentKind
from shared.storage.tables import (
    classifications,
    classifier_feedback,
    classifier_shadow_verdicts,
    comments,
)
from shared.storage.writes import insert_ignore_many

JUDGED_KINDS = (CommentKind.CREATED.value, CommentKind.EDITED.value)


class CommentNotFound(LookupError):
    """Feedback names a comment revision the classifier has not seen."""


def _verdict_columns(verdict: Classification) -> dict[str, Any]:
    return {
        "labels": [label.value for label in verdict.labels],
        "categories": list(verdict.categories),
        "severity": verdict.severity.value,
        "scores": {label.value: score for label, score in verdict.scores.items()},
        "unsure": [label.value for label in verdict.unsure],
        "lang": verdict.lang,
        "rationale": verdict.rationale,
        "model_version": verdict.model_version,
    }


def _comment_columns(c: Comment) -> dict[str, Any]:
    return {
        "event_id": str(c.event_id),
        "platform": c.platform,
        "source": c.source,
        "comment_id": c.comment_id,
        "revision": c.revision,
        "kind": c.kind.value,
        "post_id": c.post_id,
        "parent_id": c.parent_id,
        "thread_id": c.thread_id,
        "author_id": c.author.id,
        "author_name": c.author.name,
        "text": c.text,
        "lang_hint": c.lang,
        "url": c.url,
        "created_at": c.created_at,
        "received_at": c.received_at,
        "delivery_id": c.delivery_id,
        "trace_id": c.trace_id,
    }


# PostgreSQL: both tables in one statement of fixed text whatever the batch size, so the
# server parses it once per connection and a batch costs one round trip. Each column travels
# as one array; JSON columns as text, cast by the server.
_RECORD_SQL = """
WITH new_comments AS (
    INSERT INTO comments (
        event_id, platform, source, comment_id, revision, kind, post_id, parent_id, thread_id,
        author_id, author_name, text, lang_hint, url, created_at, received_at, delivery_id,
        trace_id
    )
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
        $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
        $15::timestamptz[], $16::timestamptz[], $17::text[], $18::text[]
    )
    ON CONFLICT DO NOTHING
)
INSERT INTO classifications (
    event_id, platform, comment_id, revision, kind, labels, categories, severity, scores,
    unsure, lang, rationale, model_version, classified_at
)
SELECT event_id, platform, comment_id, revision, kind, labels::json, categories::json,
    severity, scores::json, unsure::json, lang, rationale, model_version, $32
FROM unnest(
    $19::text[], $20::text[], $21::text[], $22::bigint[], $23::text[], $24::text[],
    $25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::text[], $31::text[]
) AS v(
    event_id, platform, comment_id, revision, kind, labels, categories, severity, scores,
    unsure, lang, rationale, model_version
)
ON CONFLICT DO NOTHING
"""


@lru_cache(maxsize=1024)
def _json_list(values: tuple[str, ...]) -> str:
    """A tuple of labels or categories as JSON (a handful of distinct tuples recur)."""
    return json.dumps([str(value) for value in values])


def _record_arrays(items: list[ClassifiedComment], now: datetime) -> tuple[Any, ...]:
    """The parameters of ``_RECORD_SQL``: one list per column, in its order."""
    comments_ = [item.comment for item in items]
    verdicts = [item.classification for item in items]
    event_ids = [str(c.event_id) for c in comments_]
    platforms = [c.platform for c in comments_]
    comment_ids = [c.comment_id for c in comments_]
    revisions = [c.revision for c in comments_]
    kinds = [c.kind.value for c in comments_]
    return (
        event_ids,
        platforms,
        [c.source for c in comments_],
        comment_ids,
        revisions,
        kinds,
        [c.post_id for c in comments_],
        [c.parent_id for c in comments_],
        [c.thread_id for c in comments_],
        [c.author.id for c in comments_],
        [c.author.name for c in comments_],
        [c.text for c in comments_],
        [c.lang for c in comments_],
        [c.url for c in comments_],
        [c.created_at for c in comments_],
        [c.received_at for c in comments_],
        [c.delivery_id for c in comments_],
        [c.trace_id for c in comments_],
        [str(item.event_id) for item in items],
        platforms,
        comment_ids,
        revisions,
        kinds,
        [_json_list(v.labels) for v in verdicts],
        [_json_list(v.categories) for v in verdicts],
        [v.severity.value for v in verdicts],
        [json.dumps({label.value: score for label, score in v.scores.items()}) for v in verdicts],
        [_json_list(v.unsure) for v in verdicts],
        [v.lang for v in verdicts],
        [v.rationale for v in verdicts],
        [v.model_version for v in verdicts],
        now,
    )


async def record(engine: AsyncEngine, items: list[ClassifiedComment], now: datetime) -> None:
    """Store a batch's comments and verdicts, skipping those already stored.

    On PostgreSQL one statement writes both tables, atomic on its own, so it runs without
    BEGIN and COMMIT: one round trip per batch (three fewer). Elsewhere (SQLite) two
    multi-row statements in a transaction.
    """
    if not items:
        return
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql(_RECORD_SQL, _record_arrays(items, now))
        return
    verdicts = [
        {
            "event_id": str(item.event_id),
            "platform": item.comment.platform,
            "comment_id": item.comment.comment_id,
            "revision": item.comment.revision,
            "kind": item.comment.kind.value,
            "classified_at": now,
            **_verdict_columns(item.classification),
        }
        for item in items
    ]
    async with engine.begin() as conn:
        await insert_ignore_many(conn, comments, [_comment_columns(i.comment) for i in items])
        await insert_ignore_many(conn, classifications, verdicts)


async def record_shadow(engine: AsyncEngine, rows: list[ShadowVerdict], now: datetime) -> None:
    values = [
        {
            "platform": row.comment.platform,
            "comment_id": row.comment.comment_id,
            "revision": row.comment.revision,
            "kind": row.comment.kind.value,
            **_verdict_columns(row.shadow),
            "primary_model_version": row.primary.model_version,
            "primary_labels": [label.value for label in row.primary.labels],
            "agrees": row.agrees,
            "classified_at": now,
        }
        for row in rows
    ]
    async with engine.begin() as conn:
        await insert_ignore_many(conn, classifier_shadow_verdicts, values)


async def _judged_comment(conn: AsyncConnection, fix: Correction) -> Any:
    query = select(comments.c.revision, comments.c.kind, comments.c.text, comments.c.lang_hint)
    query = query.where(
        comments.c.platform == fix.platform,
        comments.c.comment_id == fix.comment_id,
        comments.c.kind.in_(JUDGED_KINDS),
    )
    if fix.revision is not None:
        query = query.where(comments.c.revision == fix.revision)
    found = (await conn.execute(query.order_by(comments.c.revision.desc()).limit(1))).first()
    if found is None:
        revision = "latest" if fix.revision is None else str(fix.revision)
        raise CommentNotFound(f"{fix.platform}:{fix.comment_id} revision {revision}")
    return found


async def add_feedback(engine: AsyncEngine, fix: Correction) -> int:
    """Store a correction with the comment's text and language; returns its id."""
    async with engine.begin() as conn:
        comment = await _judged_comment(conn, fix)
        verdict = (
            await conn.execute(
                select(
                    classifications.c.lang,
                    classifications.c.labels,
                    classifications.c.model_version,
                )
                .where(
                    classifications.c.platform == fix.platform,
                    classifications.c.comment_id == fix.comment_id,
                    classifications.c.revision == comment.revision,
                    classifications.c.kind == comment.kind,
                )
                .order_by(classifications.c.classified_at.desc(), classifications.c.id.desc())
                .limit(1)
            )
        ).first()
        lang = verdict.lang if verdict is not None else "und"
        if lang == "und" and comment.lang_hint:
            lang = comment.lang_hint[:2].lower()
        result = await conn.execute(
            classifier_feedback.insert().values(
                platform=fix.platform,
                comment_id=fix.comment_id,
                revision=comment.revision,
                kind=comment.kind,
                text=comment.text,
                lang=lang,
                labels=[label.value for label in fix.labels],
                categories=list(fix.categories),
                moderator=fix.moderator,
                note=fix.note,
                corrected_at=fix.corrected_at,
                model_version=verdict.model_version if verdict is not None else None,
                model_labels=list(verdict.labels) if verdict is not None else None,
            )
        )
        (feedback_id,) = result.inserted_primary_key or (None,)
        assert feedback_id is not None
        return int(feedback_id)


async def feedback_examples(
    engine: AsyncEngine, *, since: datetime | None = None
) -> list[dict[str, object]]:
    """The latest correction of each comment revision, as training examples, oldest first."""
    t = classifier_feedback
    query = select(t.c.id, t.c.platform, t.c.comment_id, t.c.revision, t.c.kind, t.c.text)
    query = query.add_columns(t.c.lang, t.c.labels, t.c.categories).order_by(
        t.c.corrected_at, t.c.id
    )
    if since is not None:
        query = query.where(t.c.corrected_at >= since)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    latest = {(r.platform, r.comment_id, r.revision, r.kind): r for r in rows}
    return [
        training_example(
            feedback_id=r.id, text=r.text, lang=r.lang, labels=r.labels, categories=r.categories
        )
        for r in sorted(latest.values(), key=lambda r: r.id)
    ]
