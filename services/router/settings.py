"""Router settings (``VIGIE_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from shared.settings import CommonSettings


class RouterSettings(CommonSettings):
    http_port: int = Field(default=8082, ge=1, le=65535)
    policy_file: Path = Field(default=Path("config/policy.yaml"))
    router_batch_size: int = Field(default=200, ge=1, le=5000)
    router_api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token(s) of the cases API; two, comma-separated, to rotate. "
        "Unset: the API answers 401 to everyone.",
    )
    ack_token_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key(s) of ack links; two, comma-separated, to rotate. "
        "Unset: pages carry no ack link.",
    )
    ack_link_ttl_hours: int = Field(default=72, ge=1, le=24 * 90)
    console_url: str = Field(
        default="http://127.0.0.1:8082",
        description="Base URL at which people reach the router (ack links).",
    )
    timer_poll_s: float = Field(
        default=1.0, gt=0, le=60, description="How often due escalation steps are looked for."
    )
    timer_batch_size: int = Field(default=200, ge=1, le=5000)
