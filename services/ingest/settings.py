"""Ingest settings (``VIGIE_*``). Every secret may hold two comma-separated values to rotate."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import Field, SecretStr, field_validator

from shared.settings import CommonSettings

SILENCE_AFTER_SETTING = "VIGIE_SOURCE_SILENCE_AFTER"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PLATFORM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")
DEFAULT_SILENCE_AFTER_S = 12 * 3600.0


@dataclass(frozen=True)
class SilenceAfter:
    """How long a source of each platform may stay silent before it looks broken."""

    default_s: float = DEFAULT_SILENCE_AFTER_S
    platforms: dict[str, float] = field(default_factory=dict)

    def seconds(self, platform: str, *, adapter: str | None = None) -> float:
        """A comment platform's own entry, else its adapter's (``meta`` for facebook),
        else the default."""
        found = self.platforms.get(platform)
        if found is None and adapter is not None:
            found = self.platforms.get(adapter)
        return self.default_s if found is None else found


def parse_silence_after(text: str) -> SilenceAfter:
    """``meta=6h,x=2h,youtube=24h,default=12h`` (units s, m, h, d); a clear error naming
    the setting and the entry otherwise."""
    entries: dict[str, float] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, value = (part.strip() for part in entry.partition("="))
        if not sep or not name:
            raise ValueError(f"{SILENCE_AFTER_SETTING}: {entry!r} is not platform=duration")
        if not _PLATFORM.match(name):
            raise ValueError(f"{SILENCE_AFTER_SETTING}: {name!r} is not a platform name")
        duration = _DURATION.match(value)
        if duration is None:
            raise ValueError(
                f"{SILENCE_AFTER_SETTING}: {name}={value!r} is not a duration such as 90m or 6h"
            )
        seconds = float(duration.group(1)) * _UNITS[duration.group(2)]
        if seconds <= 0:
            raise ValueError(f"{SILENCE_AFTER_SETTING}: {name} must be longer than zero")
        if name in entries:
            raise ValueError(f"{SILENCE_AFTER_SETTING}: {name} is given twice")
        entries[name] = seconds
    default = entries.pop("default", DEFAULT_SILENCE_AFTER_S)
    return SilenceAfter(default_s=default, platforms=entries)


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
    source_silence_after: str = Field(
        default="default=12h",
        description="How long a source may stay silent, per platform: meta=6h,x=2h,default=12h.",
    )
    dedup_cache_size: int = Field(
        default=100_000, ge=0, description="Recently seen comment revisions kept in memory."
    )

    @field_validator("source_silence_after")
    @classmethod
    def _silence_after(cls, value: str) -> str:
        parse_silence_after(value)
        return value

    @property
    def silence_after(self) -> SilenceAfter:
        return parse_silence_after(self.source_silence_after)
