"""comments.normalized -> classify -> store -> comments.classified, on SQLite + memory bus."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.classifier import rules, store
from services.classifier.backends.base import Item
from services.classifier.backends.local import LocalBackend
from services.classifier.model import load_default
from services.classifier.settings import ClassifierSettings
from services.classifier.worker import GROUP, ClassifierComponent, classified
from shared.bus.memory import MemoryBus
from shared.codec import to_message
from shared.events import Classification, ClassifiedComment, Comment, Label, Severity, derive_id
from shared.runtime import Runtime
from shared.storage.tables import classifications, classifier_shadow_verdicts, comments
from shared.topics import COMMENTS_CLASSIFIED, COMMENTS_NORMALIZED, dlq
from tests.remote_scorers import moderation_script, scripted_server, status
from tests.unit import factories as f
from tests.unit.factories import eventually

# What the service runs by default: the shipped ensemble.
LOCAL = load_default()


def lexicon(comment: Comment) -> ClassifiedComment:
    return classified(comment, rules.classify(comment.text, lang_hint=comment.lang))


def test_classified_wraps_the_comment_with_a_stable_id() -> None:
    comment = f.comment(text="je vais en finir", lang="fr")

    first, again = lexicon(comment), lexicon(comment)

    assert first == again
    assert first.event_id == derive_id("classified", "generic:forum:c-1:0", rules.MODEL_VERSION)
    assert first.comment == comment
    assert first.trace_id == comment.trace_id
    assert first.occurred_at == comment.received_at
    assert first.classification.labels == (Label.SENSITIVE,)
    assert first.classification.severity is Severity.CRITICAL


def test_classified_is_the_event_validation_would_build() -> None:
    comment = f.comment(text="où est le replay ? vous êtes nuls", lang="fr", url="https://x.org/1")
    verdict = rules.classify(comment.text, lang_hint=comment.lang)

    item = classified(comment, verdict)
    validated = ClassifiedComment(
        event_id=item.event_id,
        trace_id=comment.trace_id,
        occurred_at=comment.received_at,
        comment=comment,
        classification=verdict,
    )

    assert item.model_dump_json() == validated.model_dump_json()
    assert ClassifiedComment.model_validate_json(item.model_dump_json()) == validated


def test_each_revision_gets_its_own_classification_id() -> None:
    assert lexicon(f.comment(revision=0)).event_id != lexicon(f.comment(revision=1)).event_id


async def count(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        n_comments = (await conn.execute(select(func.count()).select_from(comments))).scalar_one()
        n_verdicts = (
            await conn.execute(select(func.count()).select_from(classifications))
        ).scalar_one()
    return n_comments, n_verdicts


async def test_recording_twice_stores_each_comment_once(engine: AsyncEngine) -> None:
    items = [lexicon(f.comment("forum:c-1")), lexicon(f.comment("forum:c-2", text="idiot"))]

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
    assert row.model_version == rules.MODEL_VERSION
    assert row.scores["abusive"] == 0.9


async def run_component(
    engine: AsyncEngine,
    incoming: list[Comment],
    settings: ClassifierSettings,
    *,
    local: LocalBackend | None = None,
    registry: CollectorRegistry | None = None,
) -> dict[str, ClassifiedComment]:
    """Publish ``incoming``, run the component until all is committed, return the output."""
    bus = MemoryBus()
    runtime = Runtime(
        bus=bus, engine=engine, registry=registry or CollectorRegistry(), clock=lambda: f.NOW
    )
    await bus.publish([to_message(COMMENTS_NORMALIZED, c, key=c.partition_key) for c in incoming])
    component = ClassifierComponent(settings, local=local)
    await component.start(runtime)
    try:
        await eventually(lambda: len(bus.records(COMMENTS_CLASSIFIED)) == len(incoming))
        await eventually(
            lambda: (
                sum(bus.committed(GROUP, COMMENTS_NORMALIZED, p) for p in range(3)) == len(incoming)
            )
        )
        assert component.ready()
        await component.drain_shadow()
    finally:
        await component.stop()
    assert bus.records(dlq(COMMENTS_NORMALIZED)) == []
    return {
        item.comment.comment_id: item
        for item in (
            ClassifiedComment.model_validate_json(r.value) for r in bus.records(COMMENTS_CLASSIFIED)
        )
    }


async def test_the_component_classifies_what_arrives_on_the_bus(engine: AsyncEngine) -> None:
    incoming = [
        f.comment("forum:c-1", text="I want to kill myself"),
        f.comment("forum:c-2", text="Merci beaucoup, super vidéo !"),
    ]

    out = await run_component(engine, incoming, ClassifierSettings())

    assert out["forum:c-1"].classification.severity is Severity.CRITICAL
    assert out["forum:c-2"].classification.labels == (Label.PRAISE,)
    assert out["forum:c-2"].classification.lang == "fr"
    assert {o.comment.partition_key for o in out.values()} == {
        "generic:forum:c-1",
        "generic:forum:c-2",
    }
    assert await count(engine) == (2, 2)


async def test_comments_are_classified_in_batches(engine: AsyncEngine) -> None:
    calls: list[int] = []

    def batch(items: Sequence[Item]) -> list[Classification]:
        calls.append(len(items))
        return [rules.classify(text, lang_hint=hint) for text, hint in items]

    incoming = [f.comment(f"forum:c-{i}", text=f"question {i} ?") for i in range(6)]

    out = await run_component(
        engine, incoming, ClassifierSettings(), local=LocalBackend(batch, "counting-1")
    )

    assert sum(calls) == 6
    assert len(calls) < 6
    assert all(o.classification.labels == (Label.QUESTION,) for o in out.values())


async def test_a_failing_remote_scorer_loses_no_comment(engine: AsyncEngine) -> None:
    registry = CollectorRegistry()
    incoming = [
        f.comment("forum:c-1", text="I want to kill myself"),
        f.comment("forum:c-2", text="idiot"),
    ]
    with scripted_server(status(503)) as server:
        settings = ClassifierSettings(
            classifier_backend="openai",
            classifier_openai_url=server.url,
            classifier_openai_api_key="sk-test",  # type: ignore[arg-type]
        )
        out = await run_component(engine, incoming, settings, registry=registry)

    assert out["forum:c-1"].classification.severity is Severity.CRITICAL
    assert out["forum:c-2"].classification.labels == (Label.ABUSIVE,)
    assert {o.classification.model_version for o in out.values()} == {LOCAL.version}
    fallbacks = {"backend": "openai", "reason": "server_error"}
    assert registry.get_sample_value("vigie_classifier_fallbacks_total", fallbacks) == 2
    assert await count(engine) == (2, 2)


def self_harm_only(text: str) -> dict[str, float]:
    return {"self-harm/intent": 0.95} if "tonight" in text else {}


async def test_a_shadow_backend_is_stored_and_compared_but_never_published(
    engine: AsyncEngine,
) -> None:
    registry = CollectorRegistry()
    incoming = [
        f.comment("forum:c-1", text="I want to kill myself"),
        f.comment("forum:c-2", text="it ends tonight"),
        f.comment("forum:c-3", text="idiot"),
    ]
    with scripted_server(moderation_script(self_harm_only)) as server:
        settings = ClassifierSettings(
            classifier_shadow_backend="openai",
            classifier_openai_url=server.url,
            classifier_openai_api_key="sk-test",  # type: ignore[arg-type]
        )
        out = await run_component(engine, incoming, settings, registry=registry)

    published = {key: item.classification for key, item in out.items()}
    assert published == {c.comment_id: LOCAL.classify(c.text, c.lang) for c in incoming}
    async with engine.connect() as conn:
        rows = {
            r.comment_id: r for r in (await conn.execute(select(classifier_shadow_verdicts))).all()
        }
    assert set(rows) == {"forum:c-1", "forum:c-2", "forum:c-3"}
    assert rows["forum:c-2"].labels == ["sensitive"]
    assert rows["forum:c-2"].primary_labels == []
    assert rows["forum:c-2"].agrees is False
    assert rows["forum:c-1"].agrees is False  # the local verdict saw a crisis the scorer did not
    assert rows["forum:c-3"].agrees is False
    assert rows["forum:c-3"].primary_model_version == LOCAL.version

    def agreement(label: str, outcome: str) -> float | None:
        return registry.get_sample_value(
            "vigie_classifier_shadow_labels_total",
            {"backend": "openai", "label": label, "outcome": outcome},
        )

    assert agreement("sensitive", "primary_only") == 1
    assert agreement("sensitive", "shadow_only") == 1
    assert agreement("sensitive", "neither") == 1
    assert agreement("abusive", "primary_only") == 1
    assert agreement("question", "neither") is None  # not a label the scorer decides


async def test_a_failing_shadow_changes_nothing_that_is_published(engine: AsyncEngine) -> None:
    registry = CollectorRegistry()
    incoming = [f.comment("forum:c-1", text="I want to kill myself")]
    with scripted_server(status(500)) as server:
        settings = ClassifierSettings(
            classifier_shadow_backend="http", classifier_http_url=server.url
        )
        out = await run_component(engine, incoming, settings, registry=registry)

    assert out["forum:c-1"].classification == LOCAL.classify("I want to kill myself", "en")
    failures = {"backend": "http", "reason": "server_error"}
    assert registry.get_sample_value("vigie_classifier_shadow_failures_total", failures) == 1
    async with engine.connect() as conn:
        shadowed = (
            await conn.execute(select(func.count()).select_from(classifier_shadow_verdicts))
        ).scalar_one()
    assert shadowed == 0
