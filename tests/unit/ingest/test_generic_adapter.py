"""The generic source's payload and its normalisation to a Comment."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.ingest.adapters import generic
from services.ingest.adapters.base import Context, PayloadError
from services.ingest.adapters.generic import parse
from shared.events import CommentKind, derive_id
from tests.unit import factories as f

VALID: dict[str, Any] = {
    "id": "c-1",
    "text": "Merci pour la vidéo",
    "author": {"id": "u-1", "name": "Ana"},
    "post_id": "p-1",
}


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


def parse_body(raw: bytes, source: str = "forum") -> Any:
    context = Context(received_at=f.NOW, delivery_id="d-1", trace_id="t-1")
    (comment,) = parse(raw, source=source, context=context).comments
    return comment


def test_a_valid_payload_becomes_a_comment() -> None:
    data = {
        **VALID,
        "created_at": "2026-11-21T11:00:00Z",
        "url": "https://forum.test/p-1#c-1",
        "lang": "fr",
    }

    comment = parse_body(body(data))

    assert comment.platform == generic.PLATFORM == "generic"
    assert comment.source == "forum"
    assert comment.comment_id == "forum:c-1"
    assert comment.revision == 0
    assert comment.kind is CommentKind.CREATED
    assert comment.text == "Merci pour la vidéo"
    assert (comment.author.id, comment.author.name) == ("u-1", "Ana")
    assert comment.post_id == "p-1"
    assert comment.parent_id is None
    assert comment.thread_id == "forum:c-1"
    assert comment.created_at == datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
    assert comment.received_at == comment.occurred_at == f.NOW
    assert comment.url == "https://forum.test/p-1#c-1"
    assert comment.lang == "fr"
    assert (comment.delivery_id, comment.trace_id) == ("d-1", "t-1")


def test_ids_are_scoped_by_source_so_two_sources_never_collide() -> None:
    forum = parse_body(body(VALID), source="forum")
    shop = parse_body(body(VALID), source="shop")

    assert (forum.comment_id, shop.comment_id) == ("forum:c-1", "shop:c-1")
    assert forum.event_id != shop.event_id
    assert forum.event_id == derive_id("comment", "generic", "forum:c-1", "0")


def test_the_event_id_is_stable_across_redeliveries() -> None:
    first = parse(body(VALID), source="forum", context=Context(f.NOW, "a", "1"))
    again = parse(body(VALID), source="forum", context=Context(datetime.now(UTC), "b", "2"))

    assert first.comments[0].event_id == again.comments[0].event_id


def test_a_reply_belongs_to_the_thread_of_its_parent() -> None:
    reply = parse_body(body({**VALID, "id": "c-2", "parent_id": "c-1"}))

    assert reply.parent_id == "forum:c-1"
    assert reply.thread_id == "forum:c-1"
    assert reply.partition_key == "generic:forum:c-1"
    assert reply.partition_key == parse_body(body(VALID)).partition_key


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b"\xff\xfe{}", b"{'id': 'single quotes'}"],
    ids=["empty", "truncated", "text", "not-utf8", "python-dict"],
)
def test_bad_json_is_a_payload_error_without_field_errors(raw: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_body(raw)

    assert caught.value.reason.startswith("body is not valid JSON")
    assert caught.value.errors == []


@pytest.mark.parametrize("data", [[VALID], "c-1", 42, None, True])
def test_json_that_is_not_an_object_is_rejected(data: Any) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_body(body(data))

    assert caught.value.reason == "body must be a JSON object"
    assert caught.value.errors == []


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({k: v for k, v in VALID.items() if k != "post_id"}, ["post_id"]),
        ({"text": "hi"}, ["id", "author", "post_id"]),
        ({}, ["id", "text", "author", "post_id"]),
        ({**VALID, "author": {"name": "Ana"}}, ["author.id"]),
        ({**VALID, "id": ""}, ["id"]),
        ({**VALID, "text": "x" * 20_001}, ["text"]),
        ({**VALID, "created_at": "yesterday"}, ["created_at"]),
        ({**VALID, "likes": 3}, ["likes"]),
        ({**VALID, "author": {"id": "u", "email": "a@b.test"}}, ["author.email"]),
    ],
    ids=[
        "missing-post-id",
        "missing-three",
        "empty-object",
        "missing-author-id",
        "empty-id",
        "text-too-long",
        "bad-date",
        "unknown-field",
        "unknown-author-field",
    ],
)
def test_an_invalid_comment_names_its_fields(data: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_body(body(data))

    assert [e["field"] for e in caught.value.errors] == fields
    assert all(e["error"] for e in caught.value.errors)
    assert caught.value.reason == "invalid comment: " + ", ".join(fields)


def test_the_longest_valid_source_and_id_still_make_a_comment() -> None:
    source, comment_id = "s" * 64, "c" * 200

    comment = parse_body(body({**VALID, "id": comment_id}), source=source)

    assert comment.comment_id == f"{source}:{comment_id}"


@pytest.mark.parametrize(
    ("source", "valid"),
    [
        ("forum", True),
        ("shop-eu_2", True),
        ("0", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("Forum", False),
        ("-forum", False),
        ("_forum", False),
        ("for.um", False),
        ("", False),
        pytest.param("forum\n", False),
    ],
)
def test_source_names(source: str, valid: bool) -> None:
    assert bool(generic.SOURCE_NAME.match(source)) is valid


def test_openapi_schema_is_inlined_and_lists_required_fields() -> None:
    schema = generic.openapi_schema()

    assert "$defs" not in json.dumps(schema)
    assert sorted(schema["required"]) == ["author", "id", "post_id", "text"]
    assert schema["properties"]["author"]["required"] == ["id"]
    assert schema["additionalProperties"] is False
