"""Router settings (``VIGIE_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from services.router.reports.schedule import parse as parse_schedule
from shared.settings import CommonSettings


class RouterSettings(CommonSettings):
    http_port: int = Field(default=8082, ge=1, le=65535)
    policy_file: Path = Field(default=Path("config/policy.yaml"))
    router_batch_size: int = Field(default=200, ge=1, le=5000)
    router_api_token: SecretStr | None = Field(
        default=None,
        description="Bootstrap API key(s) with the admin role; two, comma-separated, to "
        "rotate. Unset: only API keys and console sessions are accepted.",
    )
    console_session_hours: int = Field(
        default=12, ge=1, le=24 * 30, description="A console session ends this long after login."
    )
    console_idle_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="... or after this long without a request."
    )
    console_insecure_cookies: bool = Field(
        default=False,
        description="Send the session cookie without Secure: for plain-HTTP loopback only.",
    )
    console_login_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Failed logins allowed per user name within the login window; beyond, "
        "the name is refused until its oldest failure leaves the window.",
    )
    console_login_peer_failures: int = Field(
        default=50,
        ge=1,
        le=100_000,
        description="The same per client address (a proxy's address counts for all its users).",
    )
    console_login_window_minutes: int = Field(
        default=10, ge=1, le=24 * 60, description="The window failed logins are counted over."
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
    report_schedule: str = Field(
        default="",
        description='When reports are e-mailed, e.g. "weekly:mon 08:00 Europe/Paris; '
        'monthly:1 08:00 Europe/Paris" (docs/reports.md). Empty: never.',
    )
    report_recipients: str = Field(
        default="", description="The policy's e-mail receivers that get them, comma-separated."
    )
    report_lang: Literal["en", "fr"] = Field(default="en", description="Their language.")

    @field_validator("report_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)  # a ScheduleError is a ValueError: the setting gets named
        return value
