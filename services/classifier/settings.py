"""Classifier settings (``VIGIE_*``): batch size, backends, deep model, remote scorers, shadow
mode.

Remote scorers are used only when named in ``VIGIE_CLASSIFIER_BACKEND`` or
``VIGIE_CLASSIFIER_SHADOW_BACKEND``; a remote scorer named without what it needs (URL, key)
is an error at start-up that names the missing setting.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.events import Label
from shared.settings import CommonSettings

BackendName = Literal["local", "lexicon", "openai", "http"]
REMOTE: frozenset[str] = frozenset({"openai", "http"})


class ClassifierSettings(CommonSettings):
    http_port: int = Field(default=8083, ge=1, le=65535)
    classifier_batch_size: int = Field(default=200, ge=1, le=5000)
    classifier_backend: BackendName = Field(
        default="local",
        description="local (the default classifier), lexicon, openai or http.",
    )
    classifier_deep: bool = Field(
        default=True,
        description="on: the deep model decides the questions and praise the fast path is"
        " unsure of (when the artefact has one); off: the fast path alone.",
    )
    classifier_shadow_backend: BackendName | None = Field(
        default=None, description="A second backend run on the same batches, for comparison."
    )
    classifier_timeout_s: float = Field(
        default=2.0, gt=0, le=30, description="Longest wait on a remote scorer per batch."
    )
    classifier_remote_batch_size: int = Field(
        default=32, ge=1, le=1000, description="Comments per request to a remote scorer."
    )
    classifier_shadow_max_pending: int = Field(
        default=4, ge=1, le=100, description="Shadow batches running at once; more are skipped."
    )
    classifier_openai_url: str = Field(
        default="https://api.openai.com", description="Base URL of the moderation API."
    )
    classifier_openai_model: str = Field(default="omni-moderation-latest", min_length=1)
    classifier_openai_api_key: SecretStr | None = Field(default=None, description="API key.")
    classifier_http_url: str | None = Field(
        default=None, description="URL the generic scorer's batches are POSTed to."
    )
    classifier_http_token: SecretStr | None = Field(
        default=None, description="Bearer token for the generic scorer, if it needs one."
    )
    classifier_http_labels: frozenset[Label] = Field(
        default=frozenset(Label), description="Labels the generic scorer decides (JSON list)."
    )

    @field_validator("classifier_shadow_backend", mode="before")
    @classmethod
    def _none_is_no_shadow(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    @model_validator(mode="after")
    def _backends_are_usable(self) -> Self:
        chosen = {"VIGIE_CLASSIFIER_BACKEND": self.classifier_backend}
        if self.classifier_shadow_backend is not None:
            chosen["VIGIE_CLASSIFIER_SHADOW_BACKEND"] = self.classifier_shadow_backend
        if self.classifier_shadow_backend == self.classifier_backend:
            raise ValueError(
                "VIGIE_CLASSIFIER_SHADOW_BACKEND must differ from VIGIE_CLASSIFIER_BACKEND"
                f" (both are {self.classifier_backend})"
            )
        for setting, name in chosen.items():
            if name == "openai":
                key = self.classifier_openai_api_key
                if key is None or not key.get_secret_value().strip():
                    raise ValueError(
                        f"VIGIE_CLASSIFIER_OPENAI_API_KEY is required when {setting}=openai"
                    )
                _http_url("VIGIE_CLASSIFIER_OPENAI_URL", self.classifier_openai_url)
            if name == "http":
                if not self.classifier_http_url:
                    raise ValueError(f"VIGIE_CLASSIFIER_HTTP_URL is required when {setting}=http")
                _http_url("VIGIE_CLASSIFIER_HTTP_URL", self.classifier_http_url)
                if not self.classifier_http_labels:
                    raise ValueError("VIGIE_CLASSIFIER_HTTP_LABELS must name at least one label")
        return self

    @property
    def uses_remote(self) -> bool:
        return bool({self.classifier_backend, self.classifier_shadow_backend} & REMOTE)


def _http_url(setting: str, url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{setting} must be an http:// or https:// URL, not {url[:60]!r}")
