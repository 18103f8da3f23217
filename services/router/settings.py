"""Router settings (``VIGIE_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.settings import CommonSettings


class RouterSettings(CommonSettings):
    http_port: int = Field(default=8082, ge=1, le=65535)
    policy_file: Path = Field(default=Path("config/policy.yaml"))
    router_batch_size: int = Field(default=200, ge=1, le=5000)
