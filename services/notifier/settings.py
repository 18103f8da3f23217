"""Notifier settings (``VIGIE_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import CommonSettings


class NotifierSettings(CommonSettings):
    http_port: int = Field(default=8084, ge=1, le=65535)
    webhook_signing_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key(s) for outgoing webhooks; two, comma-separated, to rotate.",
    )
    console_url: str = Field(
        default="http://127.0.0.1:8082", description="Base URL of the router, for case links."
    )
    delivery_timeout_s: float = Field(default=5.0, gt=0, le=60)
    delivery_attempts: int = Field(default=4, ge=1, le=20)
    delivery_backoff_s: float = Field(default=0.5, ge=0, le=60)
    notifier_batch_size: int = Field(default=100, ge=1, le=5000)
