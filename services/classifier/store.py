"""The classifier's tables: comments and their verdicts (written idempotently), shadow
verdicts, and moderator feedback."""

from __future__ import annotations

from datetime import datetime
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


async def record(engine: AsyncEngine, items: list[ClassifiedComment], now: datetime) -> None:
    """Store a batch's comments and verdicts: two multi-row statements, not two per comment
    (the per-row inserts were half of the classifier's time under load)."""
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
