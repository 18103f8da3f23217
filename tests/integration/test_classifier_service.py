"""The classifier on the real broker and PostgreSQL, with a real local remote scorer.

The component runs on topics and a group of its own, so that it never takes records from
another test or a running stack on the same broker.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from services.classifier import store
from services.classifier.feedback import correction
from services.classifier.model import load_default
from services.classifier.settings import ClassifierSettings
from services.classifier.worker import ClassifierComponent
from shared.bus.kafka import KafkaBus
from shared.codec import to_message
from shared.events import Author, ClassifiedComment, Comment, Label, Severity, derive_id
from shared.runtime import Runtime, utc_now
from shared.storage.engine import create_engine
from shared.storage.tables import classifications, classifier_shadow_verdicts
from tests.remote_scorers import moderation_script, scorer_script, scripted_server

pytestmark = pytest.mark.integration


def comment(run: str, n: int, text: str) -> Comment:
    comment_id = f"it-{run}-{n}"
    now = utc_now()
    return Comment(
        event_id=derive_id("comment", "generic", comment_id, "0"),
        trace_id=f"trace-{run}-{n}",
        occurred_at=now,
        platform="generic",
        source="forum",
        comment_id=comment_id,
        text=text,
        author=Author(id="u-1"),
        post_id="p-1",
        thread_id=f"t-{run}-{n}",
        received_at=now,
        delivery_id=f"d-{run}-{n}",
    )


async def read(bootstrap: str, topic: str, want: int) -> list[ClassifiedComment]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"vigie-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[ClassifiedComment] = []
    try:
        for _ in range(60):
            batches = await consumer.getmany(timeout_ms=500)
            out += [
                ClassifiedComment.model_validate_json(r.value)
                for records in batches.values()
                for r in records
            ]
            if len(out) >= want:
                break
    finally:
        await consumer.stop()
    return out


@pytest.fixture
async def bus(kafka_bootstrap: str) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_bootstrap, client_id="vigie-test-classifier", partitions=3)
    await bus.start()
    yield bus
    await bus.stop()


def sensitive_words(text: str) -> dict[str, float]:
    return {
        "sensitive": 0.9 if "tonight" in text else 0.05,
        "abusive": 0.0,
        "question": 0.8 if text.endswith("?") else 0.1,
        "praise": 0.0,
    }


async def test_a_remote_primary_with_a_shadow_on_kafka_and_postgresql(
    kafka_bootstrap: str, database_url: str, bus: KafkaBus
) -> None:
    run = uuid.uuid4().hex[:8]

    class Isolated(ClassifierComponent):
        group = f"vigie-test-classifier-{run}"
        source = f"vigie.test.{run}.normalized"
        outputs = (f"vigie.test.{run}.classified",)

    incoming = [
        comment(run, 1, "I want to kill myself"),
        comment(run, 2, "it all ends tonight"),
        comment(run, 3, "Où puis-je trouver le replay ?"),
    ]
    engine = create_engine(database_url)
    runtime = Runtime(bus=bus, engine=engine, registry=CollectorRegistry())
    with (
        scripted_server(scorer_script(sensitive_words)) as scorer,
        scripted_server(moderation_script(lambda _t: {})) as moderation,
    ):
        settings = ClassifierSettings(
            classifier_backend="http",
            classifier_http_url=scorer.url + "/score",
            classifier_shadow_backend="openai",
            classifier_openai_url=moderation.url,
            classifier_openai_api_key="sk-test",  # type: ignore[arg-type]
        )
        component = Isolated(settings)
        await bus.ensure_topics([Isolated.source])
        await bus.publish([to_message(Isolated.source, c, key=c.partition_key) for c in incoming])
        await component.start(runtime)
        try:
            out = await read(kafka_bootstrap, Isolated.outputs[0], len(incoming))
            await component.drain_shadow()
        finally:
            await component.stop()
    try:
        published = {item.comment.comment_id: item.classification for item in out}
        assert len(out) == 3
        crisis, tonight, question = (published[c.comment_id] for c in incoming)
        # The scorer missed the first crisis; the local verdict stands.
        assert crisis.labels == (Label.SENSITIVE,)
        assert crisis.severity is Severity.CRITICAL
        assert tonight.labels == (Label.SENSITIVE,)
        assert question.labels == (Label.QUESTION,)
        assert {v.model_version for v in published.values()} == {
            f"http:acme-3+{load_default().version}"
        }

        async with engine.connect() as conn:
            stored = (
                await conn.execute(
                    select(classifications.c.comment_id, classifications.c.labels).where(
                        classifications.c.comment_id.like(f"it-{run}-%")
                    )
                )
            ).all()
            shadow = (
                await conn.execute(
                    select(classifier_shadow_verdicts).where(
                        classifier_shadow_verdicts.c.comment_id.like(f"it-{run}-%")
                    )
                )
            ).all()
        assert sorted(r.comment_id for r in stored) == sorted(c.comment_id for c in incoming)
        assert len(shadow) == 3
        assert {r.model_version for r in shadow} == {"openai:omni-moderation-2024-09-26"}
        assert {r.comment_id: r.agrees for r in shadow}[f"it-{run}-3"] is True
        assert {r.comment_id: r.agrees for r in shadow}[f"it-{run}-2"] is False

        feedback_id = await store.add_feedback(
            engine,
            correction(
                platform="generic",
                comment_id=f"it-{run}-2",
                labels=(Label.SENSITIVE,),
                categories=("suicide",),
                moderator="mod-1",
                corrected_at=utc_now(),
            ),
        )
        examples = await store.feedback_examples(engine)
        assert {
            "text": "it all ends tonight",
            "lang": "en",
            "labels": ["sensitive"],
            "categories": ["suicide"],
            "source": f"feedback#{feedback_id}",
            "label_scope": ["sensitive", "abusive", "question", "praise"],
        } in examples
    finally:
        await engine.dispose()
