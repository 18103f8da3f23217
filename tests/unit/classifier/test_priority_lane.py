"""The priority lane: the crisis screen that picks a comment's topic at ingest, and the
classifier stage that reads that topic with the routine stage's backends."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from services.classifier import rules
from services.classifier.lexicon import SENSITIVE_CUES
from services.classifier.screen import comment_topic, crisis_suspected
from services.classifier.settings import ClassifierSettings
from services.classifier.worker import (
    GROUP,
    PRIORITY_GROUP,
    ClassifierComponent,
    PriorityClassifierComponent,
)
from shared.bus.memory import MemoryBus
from shared.codec import to_message
from shared.events import ClassifiedComment, CommentKind, Severity
from shared.runtime import Runtime
from shared.topics import (
    CLASSIFIED_PRIORITY,
    COMMENTS_CLASSIFIED,
    COMMENTS_NORMALIZED,
    COMMENTS_PRIORITY,
    dlq,
)
from tests.unit import factories as f
from tests.unit.factories import eventually

INTENT_PATTERNS = [cue.pattern.pattern for cue in SENSITIVE_CUES if cue.intent]


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "Honestly I'm SUICIDAL tonight",
        "Je vais en finir, je n'en peux plus",
        "j'ai envie de mourir",
        "I'm going to take all my pills",
        "je me scarifie depuis des mois",
    ],
)
def test_a_new_comment_with_a_crisis_cue_takes_the_priority_lane(text: str) -> None:
    assert crisis_suspected(text)
    assert comment_topic(f.comment(text=text)) == COMMENTS_PRIORITY


@pytest.mark.parametrize(
    "text",
    [
        "Merci beaucoup, super vidéo !",
        "When does the shop open?",
        "You are an idiot",
        "I had a rough week at work",
        "",
    ],
)
def test_other_comments_take_the_routine_lane(text: str) -> None:
    assert not crisis_suspected(text)
    assert comment_topic(f.comment(text=text)) == COMMENTS_NORMALIZED


@pytest.mark.parametrize(
    "kind", [CommentKind.EDITED, CommentKind.DELETED, CommentKind.HIDDEN, CommentKind.UNHIDDEN]
)
def test_a_change_to_a_comment_stays_behind_the_comment_in_the_routine_lane(
    kind: CommentKind,
) -> None:
    changed = f.comment(text="I want to kill myself").model_copy(update={"kind": kind})
    assert comment_topic(changed) == COMMENTS_NORMALIZED


def test_a_figure_of_speech_is_screened_in_and_the_classifier_still_decides() -> None:
    text = "je vais en finir avec ce dossier ce soir"
    assert crisis_suspected(text)  # the screen reads no context
    assert rules.classify(text).severity is not Severity.CRITICAL


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(max_size=40),
    cue=st.sampled_from(INTENT_PATTERNS).flatmap(lambda p: st.from_regex(p, fullmatch=True)),
    after=st.text(max_size=40),
)
def test_every_comment_the_lexicon_makes_critical_is_screened_in(
    before: str, cue: str, after: str
) -> None:
    text = f"{before} {cue} {after}"
    if rules.classify(text).severity is Severity.CRITICAL:
        assert crisis_suspected(text)


async def test_the_priority_stage_classifies_its_topic_with_the_routine_backends(
    engine: AsyncEngine,
) -> None:
    bus = MemoryBus()
    runtime = Runtime(bus=bus, engine=engine, registry=CollectorRegistry(), clock=lambda: f.NOW)
    urgent = f.comment("forum:c-1", text="I want to kill myself")
    routine = f.comment("forum:c-2", text="Merci beaucoup, super vidéo !")
    await bus.publish(
        [
            to_message(COMMENTS_PRIORITY, urgent, key=urgent.partition_key),
            to_message(COMMENTS_NORMALIZED, routine, key=routine.partition_key),
        ]
    )
    component = ClassifierComponent(ClassifierSettings())
    priority = PriorityClassifierComponent(component)
    with pytest.raises(RuntimeError, match="must start first"):
        await priority.start(runtime)

    await component.start(runtime)
    await priority.start(runtime)
    try:
        await eventually(lambda: len(bus.records(CLASSIFIED_PRIORITY)) == 1)
        await eventually(lambda: len(bus.records(COMMENTS_CLASSIFIED)) == 1)
        await eventually(
            lambda: sum(bus.committed(PRIORITY_GROUP, COMMENTS_PRIORITY, p) for p in range(3)) == 1
        )
        assert priority.ready()
        assert priority._primary is component._primary  # one model in memory
    finally:
        await priority.stop()
        await component.stop()
    (record,) = bus.records(CLASSIFIED_PRIORITY)
    verdict = ClassifiedComment.model_validate_json(record.value)
    assert verdict.comment.comment_id == "forum:c-1"
    assert verdict.classification.severity is Severity.CRITICAL
    (other,) = bus.records(COMMENTS_CLASSIFIED)
    assert ClassifiedComment.model_validate_json(other.value).comment.comment_id == "forum:c-2"
    assert sum(bus.committed(GROUP, COMMENTS_NORMALIZED, p) for p in range(3)) == 1
    assert bus.records(dlq(COMMENTS_PRIORITY)) == []
