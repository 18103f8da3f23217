"""Classifier settings (``VIGIE_*``)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class ClassifierSettings(CommonSettings):
    http_port: int = Field(default=8083, ge=1, le=65535)
    classifier_batch_size: int = Field(default=200, ge=1, le=5000)
