"""The classifier's one-statement write on PostgreSQL stores what the SQLite path stores."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.classifier import store
from services.classifier.worker import classified
from shared.events import (
    Author,
    Classification,
    ClassifiedComment,
    Comment,
    CommentKind,
    Label,
    Severity,
    derive_id,
)
from shared.storage.engine import create_engine
from shared.storage.tables import classifications, comments

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC)
LATER = datetime(2026, 11, 21, 12, 0, 5, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


def comment(run: str, n: int, *, full: bool, edit: int = 0) -> Comment:
    comment_id = f"st-{run}-{n}"
    return Comment(
        event_id=derive_id("comment", "generic", comment_id, str(edit)),
        trace_id=f"trace-{run}-{n}",
        occurred_at=AT,
        platform="generic",
        source="forum",
        comment_id=comment_id,
        revision=edit,
        kind=CommentKind.EDITED if edit else CommentKind.CREATED,
        text=f'« {n} » l\'été, ça va ? \\ "quoted" {{braces}} ,commas',
        author=Author(id=f"u-{n}", name="Zoé, l'autrice" if full else None),
        post_id="p-1",
        parent_id=f"st-{run}-0" if full else None,
        thread_id=f"st-{run}-0",
        created_at=AT if full else None,
        received_at=AT,
        url="https://example.org/c?a=1&b={2}" if full else None,
        lang="fr-FR" if full else None,
        delivery_id=f"d-{run}-{n}",
    )


def verdict(version: str, *, rich: bool) -> Classification:
    return Classification(
        labels=(Label.SENSITIVE, Label.QUESTION) if rich else (),
        categories=("suicide", 'quote"d') if rich else (),
        severity=Severity.CRITICAL if rich else Severity.NONE,
        scores={label: 0.125 * i for i, label in enumerate(Label)},
        unsure=(Label.QUESTION,) if rich else (),
        lang="fr",
        rationale='sensitive:cue "en finir"; question:model 0.71' if rich else "nothing fired",
        model_version=version,
    )


def expected(item: ClassifiedComment, at: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rows the transaction of two statements (the SQLite path) writes for ``item``."""
    c = item.comment
    row = {
        "event_id": str(item.event_id),
        "platform": c.platform,
        "comment_id": c.comment_id,
        "revision": c.revision,
        "kind": c.kind.value,
        "classified_at": at,
        **store._verdict_columns(item.classification),
    }
    return store._comment_columns(c), row


async def stored(engine: AsyncEngine, run: str) -> tuple[Sequence[Any], Sequence[Any]]:
    async with engine.connect() as conn:
        comment_rows = (
            await conn.execute(
                select(comments)
                .where(comments.c.comment_id.like(f"st-{run}-%"))
                .order_by(comments.c.comment_id, comments.c.revision)
            )
        ).all()
        verdict_rows = (
            await conn.execute(
                select(classifications)
                .where(classifications.c.comment_id.like(f"st-{run}-%"))
                .order_by(
                    classifications.c.comment_id,
                    classifications.c.revision,
                    classifications.c.model_version,
                )
            )
        ).all()
    return comment_rows, verdict_rows


def without_id(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    del values["id"]
    return values


async def test_a_batch_is_stored_column_for_column(engine: AsyncEngine) -> None:
    run = uuid.uuid4().hex[:8]
    items = [
        classified(comment(run, 1, full=True), verdict("m-1", rich=True)),
        classified(comment(run, 2, full=False), verdict("m-1", rich=False)),
        classified(comment(run, 1, full=True, edit=1), verdict("m-1", rich=True)),
    ]
    await store.record(engine, items, LATER)

    comment_rows, verdict_rows = await stored(engine, run)
    want = sorted(
        (expected(item, LATER) for item in items),
        key=lambda pair: (pair[0]["comment_id"], pair[0]["revision"]),
    )
    assert [without_id(r) for r in comment_rows] == [c for c, _ in want]
    assert [without_id(r) for r in verdict_rows] == [v for _, v in want]
    # JSON columns hold JSON values, not strings of JSON.
    assert verdict_rows[0].labels == ["sensitive", "question"]
    assert verdict_rows[0].scores["praise"] == 0.375


async def test_redelivery_stores_nothing_twice_and_a_new_model_adds_its_verdict(
    engine: AsyncEngine,
) -> None:
    run = uuid.uuid4().hex[:8]
    first = [
        classified(comment(run, n, full=n % 2 == 0), verdict("m-1", rich=True)) for n in (1, 2)
    ]
    await store.record(engine, first, AT)
    # A redelivered batch that overlaps the first one, then the same comments re-classified
    # by another model version: comments stay once, each version's verdict once.
    again = [*first, classified(comment(run, 3, full=True), verdict("m-1", rich=False))]
    await store.record(engine, again, LATER)
    newer = [classified(item.comment, verdict("m-2", rich=False)) for item in first]
    await store.record(engine, newer, LATER)
    await store.record(engine, [], LATER)

    comment_rows, verdict_rows = await stored(engine, run)
    assert [r.comment_id for r in comment_rows] == [f"st-{run}-{n}" for n in (1, 2, 3)]
    assert [(r.comment_id, r.model_version) for r in verdict_rows] == [
        (f"st-{run}-1", "m-1"),
        (f"st-{run}-1", "m-2"),
        (f"st-{run}-2", "m-1"),
        (f"st-{run}-2", "m-2"),
        (f"st-{run}-3", "m-1"),
    ]
    # The first write of a verdict is the one kept.
    assert {r.comment_id: r.classified_at for r in verdict_rows if r.model_version == "m-1"} == {
        f"st-{run}-1": AT,
        f"st-{run}-2": AT,
        f"st-{run}-3": LATER,
    }
