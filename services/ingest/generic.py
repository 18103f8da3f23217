"""The generic signed JSON source: its payload and its normalisation to ``Comment``.

Comment ids of a generic source are scoped by the source name: Vigie stores the comment
``c-1`` of the source ``forum`` as ``forum:c-1`` on the platform ``generic``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.events import Author, Comment, CommentKind, derive_id

PLATFORM = "generic"
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")


class GenericAuthor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=512)


class GenericComment(BaseModel):
    """The body a generic source posts."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, description="Unique within the source.")
    text: str = Field(max_length=20_000)
    author: GenericAuthor
    post_id: str = Field(min_length=1, max_length=200)
    parent_id: str | None = Field(default=None, max_length=200)
    created_at: datetime | None = None
    url: str | None = Field(default=None, max_length=2048)
    lang: str | None = Field(default=None, max_length=16)


class PayloadError(ValueError):
    """The body cannot be a comment; ``reason`` is safe to return to the caller."""

    def __init__(self, reason: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or []


def openapi_schema() -> dict[str, Any]:
    """The JSON schema with nested models inlined, as OpenAPI request bodies need."""
    schema = GenericComment.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result


def parse(
    body: bytes,
    *,
    source: str,
    received_at: datetime,
    delivery_id: str,
    trace_id: str,
) -> Comment:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    try:
        payload = GenericComment.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "error": e["msg"]} for e in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        raise PayloadError(f"invalid comment: {fields}", errors=errors) from exc
    comment_id = f"{source}:{payload.id}"
    parent_id = f"{source}:{payload.parent_id}" if payload.parent_id else None
    try:
        return _comment(payload, source, comment_id, parent_id, received_at, delivery_id, trace_id)
    except ValidationError as exc:
        raise PayloadError(f"comment cannot be normalised: {exc.error_count()} error(s)") from exc


def _comment(
    payload: GenericComment,
    source: str,
    comment_id: str,
    parent_id: str | None,
    received_at: datetime,
    delivery_id: str,
    trace_id: str,
) -> Comment:
    return Comment(
        event_id=derive_id("comment", PLATFORM, comment_id, "0"),
        trace_id=trace_id,
        occurred_at=received_at,
        platform=PLATFORM,
        source=source,
        comment_id=comment_id,
        revision=0,
        kind=CommentKind.CREATED,
        text=payload.text,
        author=Author(id=payload.author.id, name=payload.author.name),
        post_id=payload.post_id,
        parent_id=parent_id,
        thread_id=parent_id or comment_id,
        created_at=payload.created_at,
        received_at=received_at,
        url=payload.url,
        lang=payload.lang,
        delivery_id=delivery_id,
    )
