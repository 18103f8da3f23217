"""Backend settings: remote scorers only when configured, and clear errors at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.classifier.settings import ClassifierSettings
from shared.events import Label


def settings_from(monkeypatch: pytest.MonkeyPatch, **env: str) -> ClassifierSettings:
    for name, value in env.items():
        monkeypatch.setenv(f"VIGIE_{name.upper()}", value)
    return ClassifierSettings()


def test_the_default_is_the_local_classifier_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch)

    assert settings.classifier_backend == "local"
    assert settings.classifier_shadow_backend is None
    assert not settings.uses_remote


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"classifier_backend": "openai"}, "VIGIE_CLASSIFIER_OPENAI_API_KEY"),
        ({"classifier_shadow_backend": "openai"}, "VIGIE_CLASSIFIER_OPENAI_API_KEY"),
        (
            {"classifier_backend": "openai", "classifier_openai_api_key": "  "},
            "VIGIE_CLASSIFIER_OPENAI_API_KEY",
        ),
        ({"classifier_backend": "http"}, "VIGIE_CLASSIFIER_HTTP_URL"),
        (
            {"classifier_backend": "http", "classifier_http_url": "ftp://scorer"},
            "VIGIE_CLASSIFIER_HTTP_URL",
        ),
        (
            {
                "classifier_backend": "openai",
                "classifier_openai_api_key": "k",
                "classifier_openai_url": "api.openai.com",
            },
            "VIGIE_CLASSIFIER_OPENAI_URL",
        ),
        (
            {
                "classifier_backend": "http",
                "classifier_http_url": "http://s",
                "classifier_http_labels": "[]",
            },
            "VIGIE_CLASSIFIER_HTTP_LABELS",
        ),
        ({"classifier_shadow_backend": "local"}, "VIGIE_CLASSIFIER_SHADOW_BACKEND"),
        ({"classifier_backend": "remote"}, "classifier_backend"),
        ({"classifier_timeout_s": "0"}, "classifier_timeout_s"),
    ],
)
def test_an_unusable_combination_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings_from(monkeypatch, **env)

    assert named in str(refused.value)


def test_remote_scorers_are_configured_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from(
        monkeypatch,
        classifier_backend="http",
        classifier_http_url="https://scorer.internal/v1/score",
        classifier_http_token="s3cret-token",
        classifier_http_labels='["sensitive", "abusive"]',
        classifier_shadow_backend="openai",
        classifier_openai_api_key="sk-s3cret",
    )

    assert settings.uses_remote
    assert settings.classifier_http_labels == frozenset({Label.SENSITIVE, Label.ABUSIVE})
    shown = repr(settings) + str(settings.model_dump())
    assert "s3cret" not in shown


@pytest.mark.parametrize("off", ["", "none", "off"])
def test_an_empty_shadow_setting_means_no_shadow(monkeypatch: pytest.MonkeyPatch, off: str) -> None:
    assert (
        settings_from(monkeypatch, classifier_shadow_backend=off).classifier_shadow_backend is None
    )
