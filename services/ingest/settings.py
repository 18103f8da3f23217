"""Ingest settings (``VIGIE_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import CommonSettings


class IngestSettings(CommonSettings):
    http_port: int = Field(default=8081, ge=1, le=65535)
    generic_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC key(s) of generic sources; two, comma-separated, to rotate."
    )
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
