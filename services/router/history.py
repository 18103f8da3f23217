"""Classified comments as the classifier stored them, rebuilt as events for a replay."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events import (
    Author,
    Classification,
    ClassifiedComment,
    Comment,
    CommentKind,
    derive_id,
)
from shared.storage.tables import classifications, comments

_JOIN = and_(
    classifications.c.platform == comments.c.platform,
    classifications.c.comment_id == comments.c.comment_id,
    classifications.c.revision == comments.c.revision,
    classifications.c.kind == comments.c.kind,
)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _event(row: Any) -> ClassifiedComment:
    comment = Comment(
        event_id=row.event_id,
        trace_id=row.trace_id,
        occurred_at=_aware(row.received_at),
        platform=row.platform,
        source=row.source,
        comment_id=row.comment_id,
        revision=row.revision,
        kind=CommentKind(row.kind),
        text=row.text,
        author=Author(id=row.author_id, name=row.author_name),
        post_id=row.post_id,
        parent_id=row.parent_id,
        thread_id=row.thread_id,
        created_at=_aware(row.created_at) if row.created_at else None,
        received_at=_aware(row.received_at),
        url=row.url,
        lang=row.lang_hint,
        delivery_id=row.delivery_id,
    )
    verdict = Classification(
        labels=tuple(row.labels),
        categories=tuple(row.categories),
        severity=row.severity,
        scores=row.scores,
        unsure=tuple(row.unsure),
        lang=row.lang,
        rationale=row.rationale,
        model_version=row.model_version,
    )
    return ClassifiedComment(
        event_id=derive_id("classified", comment.ref.key, verdict.model_version),
        trace_id=comment.trace_id,
        occurred_at=comment.received_at,
        comment=comment,
        classification=verdict,
    )


async def classified_since(
    engine: AsyncEngine, since: datetime
) -> tuple[list[ClassifiedComment], int]:
    """Comments received since ``since``, in arrival order, each with its latest verdict;
    and how many stored rows could not be rebuilt (skipped)."""
    query = (
        select(
            comments,
            classifications.c.labels,
            classifications.c.categories,
            classifications.c.severity,
            classifications.c.scores,
            classifications.c.unsure,
            classifications.c.lang,
            classifications.c.rationale,
            classifications.c.model_version,
            classifications.c.classified_at,
        )
        .select_from(classifications.join(comments, _JOIN))
        .where(comments.c.received_at >= since)
        .order_by(comments.c.received_at, comments.c.id, classifications.c.classified_at)
    )
    latest: dict[tuple[str, str, int, str], ClassifiedComment] = {}
    broken = 0
    async with engine.connect() as conn:
        result = await conn.stream(query)
        async for row in result:
            try:
                item = _event(row)
            except (ValidationError, ValueError):
                broken += 1
                continue
            c = item.comment
            latest[(c.platform, c.comment_id, c.revision, c.kind.value)] = item
    return list(latest.values()), broken
