"""comments.normalized -> classify -> store -> comments.classified, on SQLite + memory bus."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.classifier import store
from services.classifier.rules import MODEL_VERSION
from services.classifier.settings import ClassifierSettings
from services.classifier.worker import GROUP, ClassifierComponent, classified
from shared.bus.memory import MemoryBus
from shared.codec import to_message
from shared.events import ClassifiedComment, Label, Severity, derive_id
from shared.runtime import Runtime
from shared.storage.tables import classifications, comments
from shared.topics import COMMENTS_CLASSIFIED, COMMENTS_NORMALIZED, dlq
from tests.unit import factories as f
from tests.unit.factories import eventually


def test_classified_wraps_the_comment_with_a_stable_id() -> None:
    comment = f.comment(text="je vais en finir", lang="fr")

    first, again = classified(comment), classified(comment)

    assert first == again
    assert first.event_id == derive_id("classified", "generic:forum:c-1:0", MODEL_VERSION)
    assert first.comment == comment
    assert first.trace_id == comment.trace_id
    assert first.occurred_at == comment.received_at
    assert first.classification.labels == (Label.SENSITIVE,)
    assert first.classification.severity is Severity.CRITICAL


def test_each_revision_gets_its_own_classification_id() -> None:
    assert classified(f.comment(revision=0)).event_id != classified(f.comment(revision=1)).event_id


async def count(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        n_comments = (await conn.execute(select(func.count()).select_from(comments))).scalar_one()
        n_verdicts = (
            await conn.execute(select(func.count()).select_from(classifications))
        ).scalar_one()
    return n_comments, n_verdicts


async def test_recording_twice_stores_each_comment_once(engine: AsyncEngine) -> None:
    items = [classified(f.comment("forum:c-1")), classified(f.comment("forum:c-2", text="idiot"))]

    await store.record(engine, items, f.NOW)
    await store.record(engine, items, f.NOW)

    assert await count(engine) == (2, 2)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(classifications).where(classifications.c.comment_id == "forum:c-2")
            )
        ).one()
    assert row.labels == ["abusive"]
    assert row.categories == ["insult"]
    assert row.severity == "medium"
    assert row.model_version == MODEL_VERSION
    assert row.scores["abusive"] == 0.9


async def test_the_component_classifies_what_arrives_on_the_bus(engine: AsyncEngine) -> None:
    bus = MemoryBus()
    runtime = Runtime(bus=bus, engine=engine, clock=lambda: f.NOW)
    incoming = [
        f.comment("forum:c-1", text="I want to kill myself"),
        f.comment("forum:c-2", text="Merci beaucoup, super vidéo !"),
    ]
    await bus.publish([to_message(COMMENTS_NORMALIZED, c, key=c.partition_key) for c in incoming])
    component = ClassifierComponent(ClassifierSettings())

    await component.start(runtime)
    try:
        await eventually(lambda: len(bus.records(COMMENTS_CLASSIFIED)) == 2)
        await eventually(
            lambda: sum(bus.committed(GROUP, COMMENTS_NORMALIZED, p) for p in range(3)) == 2
        )
        assert component.ready()
    finally:
        await component.stop()

    out = {
        item.comment.comment_id: item
        for item in (
            ClassifiedComment.model_validate_json(r.value) for r in bus.records(COMMENTS_CLASSIFIED)
        )
    }
    assert out["forum:c-1"].classification.severity is Severity.CRITICAL
    assert out["forum:c-2"].classification.labels == (Label.PRAISE,)
    assert out["forum:c-2"].classification.lang == "fr"
    assert {r.key for r in bus.records(COMMENTS_CLASSIFIED)} == {
        b"generic:forum:c-1",
        b"generic:forum:c-2",
    }
    assert bus.records(dlq(COMMENTS_NORMALIZED)) == []
    assert await count(engine) == (2, 2)
