"""The classifier's tables: comments and their classifications, written idempotently."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events import ClassifiedComment
from shared.storage.tables import classifications, comments
from shared.storage.writes import insert_ignore


async def record(engine: AsyncEngine, items: list[ClassifiedComment], now: datetime) -> None:
    async with engine.begin() as conn:
        for item in items:
            c, k = item.comment, item.classification
            await insert_ignore(
                conn,
                comments,
                {
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
                },
            )
            await insert_ignore(
                conn,
                classifications,
                {
                    "event_id": str(item.event_id),
                    "platform": c.platform,
                    "comment_id": c.comment_id,
                    "revision": c.revision,
                    "kind": c.kind.value,
                    "labels": [label.value for label in k.labels],
                    "categories": list(k.categories),
                    "severity": k.severity.value,
                    "scores": {label.value: score for label, score in k.scores.items()},
                    "unsure": [label.value for label in k.unsure],
                    "lang": k.lang,
                    "rationale": k.rationale,
                    "model_version": k.model_version,
                    "classified_at": now,
                },
            )
