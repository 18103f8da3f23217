"""Notifier settings (``VIGIE_*``). Every secret is a setting (SecretStr), never policy.

Receivers in the policy name a channel and a target; where the target is a *name*
(a Slack or Teams webhook, a PagerDuty routing key, a Meta page, an X account) the secret
it stands for is looked up in the maps below, given as JSON, e.g.
``VIGIE_PAGERDUTY_ROUTING_KEYS='{"crisis": "R0..."}'``. Provider base URLs are settings
too, so tests and proxies can point them elsewhere.
"""

from __future__ import annotations

from pathlib import Path

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
    delivery_max_wait_s: float = Field(default=60.0, ge=0, le=3600)
    notifier_batch_size: int = Field(default=100, ge=1, le=5000)
    http_connections: int = Field(
        default=8,
        ge=1,
        le=200,
        description="Connections the notifier keeps open to the providers, all hosts together.",
    )
    webhook_connections: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="Connections open at most to one signed-webhook receiver (host and port).",
    )

    # Messages
    notifier_default_lang: str = Field(default="en", pattern=r"^(en|fr)$")
    notifier_allow_comment_text: bool = Field(
        default=False, description="Show the comment's text for labels that are not sensitive."
    )
    email_digest_threshold: int = Field(
        default=5, ge=0, description="This many e-mails to one receiver in a batch: one digest."
    )
    email_digest_window_s: float = Field(
        default=60.0,
        ge=0,
        le=86400,
        description=(
            "Once a receiver had the threshold's number of e-mail pages within this many"
            " seconds, its further non-critical pages wait this long for one digest (0: never)."
        ),
    )
    email_digest_poll_s: float = Field(
        default=1.0, gt=0, le=60, description="How often held e-mail pages are looked at."
    )

    # Rate limits and circuit breakers, per receiver
    receiver_rate_per_s: float = Field(
        default=5.0,
        gt=0,
        description="Sends per second to one receiver of a channel not listed below.",
    )
    channel_rates_per_s: dict[str, float] = Field(
        # What each provider documents for one destination: Slack 1 message/s per channel,
        # PagerDuty Events v2 120 events/min per routing key, Twilio 1 message/s per long
        # code, X 100 posts per 15 min per account; own webhooks are ours to size.
        default_factory=lambda: {
            "webhook": 200.0,
            "slack": 1.0,
            "slack_webhook": 1.0,
            "teams": 2.0,
            "email": 10.0,
            "pagerduty": 2.0,
            "sms": 1.0,
            "meta": 10.0,
            "x": 0.1,
        },
        description="Sends per second to one receiver, by channel (JSON object).",
    )
    receiver_burst: float = Field(default=20.0, ge=1)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=30.0, ge=0)

    # Slack
    slack_api_url: str = "https://slack.com/api"
    slack_bot_token: SecretStr | None = None
    slack_webhook_urls: dict[str, SecretStr] = Field(default_factory=dict)

    # Microsoft Teams (Workflows webhooks)
    teams_webhook_urls: dict[str, SecretStr] = Field(default_factory=dict)

    # E-mail (SMTP)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(default=True, description="Upgrade with STARTTLS (port 587).")
    smtp_implicit_tls: bool = Field(default=False, description="TLS from the start (port 465).")
    smtp_ca_file: Path | None = Field(default=None, description="CA bundle for the server.")
    email_from: str = "vigie@localhost"

    # PagerDuty Events API v2
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    pagerduty_routing_keys: dict[str, SecretStr] = Field(default_factory=dict)

    # SMS (Twilio)
    twilio_api_url: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = Field(default=None, description="A number or an MG... SID.")

    # Platform actions
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    meta_page_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    x_api_url: str = "https://api.x.com"
    x_user_tokens: dict[str, SecretStr] = Field(default_factory=dict)
