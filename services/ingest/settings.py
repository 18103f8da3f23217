"""Ingest settings (``VIGIE_*``). Every secret may hold two comma-separated values to rotate."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import CommonSettings


def _secret(what: str) -> SecretStr | None:
    return Field(default=None, description=f"{what}; two, comma-separated, during a rotation.")


class IngestSettings(CommonSettings):
    http_port: int = Field(default=8081, ge=1, le=65535)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    generic_webhook_secret: SecretStr | None = _secret("HMAC key(s) of generic sources")
    meta_app_secret: SecretStr | None = _secret("Meta app secret (X-Hub-Signature-256)")
    meta_verify_token: SecretStr | None = _secret("Meta webhook verify token (hub.verify_token)")
    x_consumer_secret: SecretStr | None = _secret("X app consumer secret (CRC, signatures)")
    youtube_hub_secret: SecretStr | None = _secret("WebSub hub.secret of YouTube subscriptions")
    youtube_api_key: SecretStr | None = Field(
        default=None, description="YouTube Data API key; the comment poller runs when set."
    )
    youtube_api_url: str = Field(
        default="https://www.googleapis.com/youtube/v3", description="YouTube Data API base URL."
    )
    youtube_quota_units_per_day: int = Field(
        default=10_000, ge=1, description="Data API quota the poller may spend per day."
    )
    youtube_poll_interval_s: float = Field(
        default=300.0, gt=0, description="How often a tracked video is polled without a ping."
    )
    youtube_track_days: int = Field(
        default=14, ge=1, description="How long a video is polled after its last ping."
    )
    discourse_webhook_secret: SecretStr | None = _secret("Discourse webhook secret")
    slack_signing_secret: SecretStr | None = _secret("Slack app signing secret")
    slack_replay_window_s: int = Field(
        default=300, ge=1, description="Oldest accepted X-Slack-Request-Timestamp, in seconds."
    )
    dedup_cache_size: int = Field(
        default=100_000, ge=0, description="Recently seen comment revisions kept in memory."
    )
