"""Kafka topic names; every stage also has a ``<topic>.dlq`` for poison records."""

from __future__ import annotations

COMMENTS_RAW = "vigie.comments.raw.v1"
COMMENTS_NORMALIZED = "vigie.comments.normalized.v1"
SOURCE_CHANGES = "vigie.sources.changes.v1"
COMMENTS_CLASSIFIED = "vigie.comments.classified.v1"
ACTIONS = "vigie.actions.v1"
NOTIFICATION_RESULTS = "vigie.notifications.results.v1"
CASE_EVENTS = "vigie.cases.events.v1"

MAIN_TOPICS = (
    COMMENTS_RAW,
    COMMENTS_NORMALIZED,
    SOURCE_CHANGES,
    COMMENTS_CLASSIFIED,
    ACTIONS,
    NOTIFICATION_RESULTS,
    CASE_EVENTS,
)


def dlq(topic: str) -> str:
    return f"{topic}.dlq"


ALL_TOPICS = MAIN_TOPICS + tuple(dlq(t) for t in MAIN_TOPICS)
