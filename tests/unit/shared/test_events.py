"""Wire contracts: round trips, pinned old payloads, strictness, stable ids."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import (
    SCHEMA_VERSION,
    Action,
    Author,
    Comment,
    CommentKind,
    Event,
    Label,
    RawWebhook,
    Severity,
    derive_id,
)
from tests.unit import factories as f

EVENTS: list[Event] = [
    f.comment(),
    f.comment(
        "forum:c-2",
        parent_id="forum:c-1",
        revision=3,
        url="https://forum.test/c-2",
        lang="fr",
        author_name=None,
    ),
    f.sensitive(f.comment(text="I want to kill myself")),
    f.classified(
        f.comment(),
        f.classification(
            Label.ABUSIVE, Label.QUESTION, severity=Severity.MEDIUM, categories=("insult",)
        ),
    ),
    f.action(),
    f.action(comment_url=None, labels=(Label.ABUSIVE,), severity=Severity.MEDIUM),
    f.delivery_result(),
    f.case_event(),
    f.raw_webhook(),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_survives_a_json_round_trip(event: Event) -> None:
    wire = event.model_dump_json()

    back = type(event).model_validate_json(wire)

    assert back == event
    assert back.model_dump_json() == wire


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_carries_the_current_schema_version(event: Event) -> None:
    assert json.loads(event.model_dump_json())["schema_version"] == SCHEMA_VERSION == 1


# A Comment exactly as the first release wrote it on the wire. Never edit this literal: a
# change that breaks it breaks every consumer that still reads old records.
PINNED_COMMENT_V1: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "occurred_at": "2026-11-21T12:00:00Z",
    "platform": "generic",
    "source": "forum",
    "comment_id": "forum:c-7",
    "revision": 1,
    "kind": "edited",
    "text": "Merci pour la vidéo !",
    "author": {"id": "u-42", "name": "Ana"},
    "post_id": "p-1",
    "parent_id": "forum:c-1",
    "thread_id": "forum:c-1",
    "created_at": "2026-11-21T11:59:58+01:00",
    "received_at": "2026-11-21T12:00:00.123456+00:00",
    "url": "https://forum.test/p-1#c-7",
    "lang": "fr",
    "delivery_id": "3f2a9c",
}

# The smallest Comment v1 a producer could send: optional fields absent.
PINNED_MINIMAL_COMMENT_V1: dict[str, Any] = {
    "event_id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
    "trace_id": "t",
    "occurred_at": "2026-11-21T12:00:00Z",
    "platform": "generic",
    "source": "forum",
    "comment_id": "forum:c-7",
    "text": "",
    "author": {"id": "u-42"},
    "post_id": "p-1",
    "thread_id": "forum:c-7",
    "received_at": "2026-11-21T12:00:00Z",
    "delivery_id": "3f2a9c",
}


def test_a_pinned_comment_v1_payload_still_parses() -> None:
    parsed = Comment.model_validate_json(json.dumps(PINNED_COMMENT_V1))

    assert parsed.event_id == uuid.UUID("1b4e28ba-2fa1-41d2-883f-0016d3cca427")
    assert parsed.kind is CommentKind.EDITED
    assert parsed.revision == 1
    assert parsed.author == Author(id="u-42", name="Ana")
    assert parsed.occurred_at == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parsed.created_at == datetime(2026, 11, 21, 10, 59, 58, tzinfo=UTC)
    assert parsed.ref.key == "generic:forum:c-7:1"
    assert parsed.partition_key == "generic:forum:c-1"


def test_a_minimal_pinned_comment_v1_payload_gets_the_defaults() -> None:
    parsed = Comment.model_validate_json(json.dumps(PINNED_MINIMAL_COMMENT_V1))

    assert parsed.schema_version == 1
    assert parsed.revision == 0
    assert parsed.kind is CommentKind.CREATED
    assert parsed.author.name is None
    assert (parsed.parent_id, parsed.created_at, parsed.url, parsed.lang) == (None,) * 4


PINNED_ACTION_V1: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "9b2d6c1e-7f3a-4e2b-9c1d-5a6b7c8d9e0f",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "occurred_at": "2026-11-21T12:00:00Z",
    "action_id": "3d2c8b0a-5f1e-4c3b-8a7d-1e2f3a4b5c6d:notify:crisis-team:1",
    "kind": "notify",
    "case_id": "3d2c8b0a-5f1e-4c3b-8a7d-1e2f3a4b5c6d",
    "receiver": {"name": "crisis-team", "channel": "webhook", "url": "http://x.test/c"},
    "severity": "critical",
    "labels": ["sensitive"],
    "categories": ["suicide"],
    "comment": {"platform": "generic", "comment_id": "forum:c-1", "revision": 0},
    "comment_url": None,
    "case_opened_at": "2026-11-21T12:00:00Z",
    "policy_version": "2026-11-21+e690d8a5",
    "route": "crisis",
}


def test_a_pinned_action_v1_payload_still_parses() -> None:
    parsed = Action.model_validate_json(json.dumps(PINNED_ACTION_V1))

    assert parsed.severity is Severity.CRITICAL
    assert parsed.labels == (Label.SENSITIVE,)
    assert parsed.receiver.url == "http://x.test/c"
    assert parsed.comment.key == "generic:forum:c-1:0"


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_an_unknown_top_level_field_is_rejected(event: Event) -> None:
    data = json.loads(event.model_dump_json())
    data["surprise"] = 1

    with pytest.raises(ValidationError) as caught:
        type(event).model_validate(data)

    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [
        ("extra_forbidden", ("surprise",))
    ]


def test_an_unknown_nested_field_is_rejected() -> None:
    data = dict(PINNED_COMMENT_V1, author={"id": "u-1", "email": "a@b.test"})

    with pytest.raises(ValidationError) as caught:
        Comment.model_validate(data)

    assert caught.value.errors()[0]["loc"] == ("author", "email")


def test_events_are_frozen() -> None:
    comment = f.comment()

    with pytest.raises(ValidationError, match="frozen"):
        comment.text = "edited behind the bus's back"  # type: ignore[misc]

    assert comment.text == "hello"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("trace_id", ""),
        ("trace_id", "x" * 65),
        ("revision", -1),
        ("platform", ""),
        ("kind", "exploded"),
        ("event_id", "not-a-uuid"),
    ],
)
def test_comment_field_constraints(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Comment.model_validate({**PINNED_COMMENT_V1, field: value})

    assert caught.value.errors()[0]["loc"] == (field,)


def test_raw_webhook_body_travels_as_base64_text() -> None:
    original = b'{"id": "c-1", "text": "caf\xc3\xa9"}'
    raw = f.raw_webhook(original)

    wire = json.loads(raw.model_dump_json())

    assert base64.b64decode(wire["body"]) == original
    assert base64.b64decode(RawWebhook.model_validate(wire).body) == original


def test_derive_id_is_stable_uuid5() -> None:
    first = derive_id("comment", "generic", "forum:c-1", "0")

    assert first == derive_id("comment", "generic", "forum:c-1", "0")
    assert first.version == 5
    # Pinned: ids are stored and compared across releases, they must never change.
    assert first == uuid.UUID("1b5f2ece-2405-5807-bf4d-1c59f0f1cbe2")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("comment", "generic", "c-1", "0"), ("comment", "generic", "c-1", "1")),
        (("comment", "generic", "c-1", "0"), ("comment", "generic", "c-2", "0")),
        (("a", "b"), ("b", "a")),
        (("a", "b"), ("ab",)),
        (("ab", "c"), ("a", "bc")),
        (("a",), ("a", "")),
    ],
)
def test_derive_id_differs_for_different_parts(a: tuple[str, ...], b: tuple[str, ...]) -> None:
    assert derive_id(*a) != derive_id(*b)


def test_severity_rank_follows_urgency() -> None:
    ordered = [Severity.NONE, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]

    assert [s.rank for s in ordered] == [0, 1, 2, 3, 4]
    assert max(Severity.LOW, Severity.CRITICAL, Severity.HIGH, key=lambda s: s.rank) is (
        Severity.CRITICAL
    )
