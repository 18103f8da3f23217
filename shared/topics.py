"""Kafka topic names; every stage also has a ``<topic>.dlq`` for poison records."""

from __future__ import annotations

COMMENTS_RAW = "vigie.comments.raw.v1"
COMMENTS_NORMALIZED = "vigie.comments.normalized.v1"
SOURCE_CHANGES = "vigie.sources.changes.v1"
COMMENTS_CLASSIFIED = "vigie.comments.classified.v1"
# New comments that carry a crisis cue (``services.classifier.screen``), and their verdicts:
# a lane of their own through the classifier and the router, read by stages of their own,
# so that a crisis comment never waits behind a backlog of routine ones.
COMMENTS_PRIORITY = "vigie.comments.priority.v1"
CLASSIFIED_PRIORITY = "vigie.comments.classified.priority.v1"
COMMENT_TOPICS = (COMMENTS_NORMALIZED, COMMENTS_PRIORITY)
CLASSIFIED_TOPICS = (COMMENTS_CLASSIFIED, CLASSIFIED_PRIORITY)
ACTIONS = "vigie.actions.v1"
# Actions of critical cases (pages, crisis-resource replies, their follow-ups): a lane of
# their own, read by a notifier stage of its own, so that a crisis page never queues behind
# routine work (reactions held back by a platform's rate limit, a backlog of questions).
ACTIONS_CRITICAL = "vigie.actions.critical.v1"
ACTION_TOPICS = (ACTIONS, ACTIONS_CRITICAL)
# The crisis lanes: their messages do not queue behind routine ones in a producer.
URGENT_TOPICS = (COMMENTS_PRIORITY, CLASSIFIED_PRIORITY, ACTIONS_CRITICAL)
NOTIFICATION_RESULTS = "vigie.notifications.results.v1"
CASE_EVENTS = "vigie.cases.events.v1"

MAIN_TOPICS = (
    COMMENTS_RAW,
    COMMENTS_NORMALIZED,
    COMMENTS_PRIORITY,
    SOURCE_CHANGES,
    COMMENTS_CLASSIFIED,
    CLASSIFIED_PRIORITY,
    ACTIONS,
    ACTIONS_CRITICAL,
    NOTIFICATION_RESULTS,
    CASE_EVENTS,
)


def dlq(topic: str) -> str:
    return f"{topic}.dlq"


ALL_TOPICS = MAIN_TOPICS + tuple(dlq(t) for t in MAIN_TOPICS)
