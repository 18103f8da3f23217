"""The generic signed JSON source: its payload and its normalisation to ``Comment``.

Comment ids of a generic source are scoped by the source name: Vigie stores the comment
``c-1`` of the source ``forum`` as ``forum:c-1`` on the platform ``generic``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.ingest import signature
from services.ingest.adapters.base import (
    Context,
    InboundRequest,
    Parsed,
    PayloadError,
    Rejected,
    Reply,
    Verdict,
    build_comment,
    field_errors,
    load_json_object,
    no_handshake,
)
from services.ingest.settings import IngestSettings
from shared.settings import secret_values

PLATFORM = "generic"
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")
SIGNATURE_HEADER = "x-vigie-signature"
DELIVERY_HEADER = "x-vigie-delivery"
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")


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


def parse(body: bytes, *, source: str, context: Context) -> Parsed:
    data = load_json_object(body)
    try:
        payload = GenericComment.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise PayloadError(
            f"invalid comment: {', '.join(e['field'] for e in errors)}", errors=errors
        ) from exc
    comment_id = f"{source}:{payload.id}"
    comment = build_comment(
        context,
        platform=PLATFORM,
        source=source,
        comment_id=comment_id,
        text=payload.text,
        author_id=payload.author.id,
        author_name=payload.author.name,
        post_id=payload.post_id,
        parent_id=f"{source}:{payload.parent_id}" if payload.parent_id else None,
        created_at=payload.created_at,
        url=payload.url,
        lang=payload.lang,
    )
    return Parsed(comments=(comment,))


class GenericAdapter:
    """``POST /webhooks/generic/<source>``: one comment, signed ``sha256=<hex HMAC of body>``."""

    platform = PLATFORM
    path = "/webhooks/generic/{source}"
    secret_setting = "VIGIE_GENERIC_WEBHOOK_SECRET"
    signature_header = "X-Vigie-Signature"
    content_types = ("application/json",)
    accepted_status = 202

    def __init__(self, settings: IngestSettings) -> None:
        self._secrets = secret_values(settings.generic_webhook_secret)

    @property
    def openapi_extra(self) -> dict[str, Any]:
        content = {"application/json": {"schema": openapi_schema()}}
        source = {
            "name": "source",
            "in": "path",
            "required": True,
            "description": "The source's name: 1-64 of a-z, 0-9, '_' and '-'.",
            "schema": {"type": "string", "pattern": SOURCE_NAME.pattern.removesuffix(r"\Z")},
        }
        return {
            "parameters": [source],
            "requestBody": {"required": True, "content": content},
        }

    def configured(self) -> bool:
        return bool(self._secrets)

    def route_source(self, request: InboundRequest) -> str:
        source = request.path_params.get("source", "")
        if not SOURCE_NAME.match(source):
            raise Rejected(404, "source names are 1-64 of a-z, 0-9, '_' and '-'", "bad_source")
        return source

    def handshake(self, request: InboundRequest) -> Reply:
        raise no_handshake(PLATFORM)

    def verify(self, request: InboundRequest, now: datetime) -> Verdict:
        self.route_source(request)
        return signature.verify(request.headers.get(SIGNATURE_HEADER), request.body, self._secrets)

    def delivery_id(self, request: InboundRequest) -> str | None:
        delivery = request.headers.get(DELIVERY_HEADER)
        if delivery is not None and not _DELIVERY_ID.match(delivery):
            raise Rejected(
                400, "X-Vigie-Delivery must be 1-128 of A-Z a-z 0-9 . _ : -", "bad_delivery"
            )
        return delivery

    def parse(self, request: InboundRequest, context: Context) -> Parsed:
        return parse(request.body, source=self.route_source(request), context=context)


def platform_headers(body: bytes, secret: bytes, now: datetime) -> dict[str, str]:
    """The signing headers a source sends with ``body`` (for simulation, tests and bench)."""
    return {SIGNATURE_HEADER: signature.sign(secret, body)}
