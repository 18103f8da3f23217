"""Settings common to every service, read from ``VIGIE_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_KAFKA = "127.0.0.1:19092"
LOCAL_DATABASE = "postgresql+asyncpg://vigie@127.0.0.1:15432/vigie"


def secret_values(secret: SecretStr | None) -> tuple[bytes, ...]:
    """The live values of a secret setting; two comma-separated values during a rotation."""
    if secret is None:
        return ()
    return tuple(v.strip().encode() for v in secret.get_secret_value().split(",") if v.strip())


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_", extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(default=LOCAL_KAFKA, description="host:port[,host:port]")
    kafka_partitions: int = Field(default=3, ge=1, description="Partitions of created topics.")
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="Replication of created topics (3 on a real cluster)."
    )
    kafka_group_prefix: str = Field(
        default="",
        max_length=100,
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Put before every consumer group's name, so that several deployments "
        "(staging beside production, test runs) can share one Kafka cluster.",
    )
    database_url: str = Field(default=LOCAL_DATABASE, description="SQLAlchemy async URL.")
    data_dir: Path = Field(default=Path(".local/data"), description="Embedded mode's files.")
    migrate_on_start: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        return url
