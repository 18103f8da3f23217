"""The backends the settings ask for: the primary one (guarded when remote) and the shadow."""

from __future__ import annotations

import httpx

from services.classifier.backends.base import Backend
from services.classifier.backends.guard import GuardedRemote
from services.classifier.backends.http_scorer import HttpScorer
from services.classifier.backends.local import LocalBackend, lexicon_backend
from services.classifier.backends.openai_moderation import OpenAIModeration
from services.classifier.metrics import ClassifierMetrics
from services.classifier.settings import BackendName, ClassifierSettings


def remote_scorer(
    name: BackendName, settings: ClassifierSettings, client: httpx.AsyncClient
) -> Backend:
    """A remote scorer on its own: it raises on failure (the guard or the shadow copes)."""
    if name == "openai":
        assert settings.classifier_openai_api_key is not None  # checked by the settings
        return OpenAIModeration(
            client,
            base_url=settings.classifier_openai_url,
            api_key=settings.classifier_openai_api_key.get_secret_value().strip(),
            model=settings.classifier_openai_model,
            chunk_size=settings.classifier_remote_batch_size,
        )
    if name == "http":
        assert settings.classifier_http_url is not None  # checked by the settings
        token = settings.classifier_http_token
        return HttpScorer(
            client,
            url=settings.classifier_http_url,
            token=token.get_secret_value().strip() if token else None,
            labels=settings.classifier_http_labels,
            chunk_size=settings.classifier_remote_batch_size,
        )
    raise ValueError(f"{name} is not a remote scorer")


def _backend(
    name: BackendName,
    settings: ClassifierSettings,
    client: httpx.AsyncClient | None,
    local: LocalBackend,
) -> Backend:
    if name == "local":
        return local
    if name == "lexicon":
        return lexicon_backend()
    if client is None:
        raise ValueError(f"the {name} backend needs an HTTP client")
    return remote_scorer(name, settings, client)


def primary_backend(
    settings: ClassifierSettings,
    *,
    local: LocalBackend,
    client: httpx.AsyncClient | None,
    metrics: ClassifierMetrics,
) -> Backend:
    """What the published verdicts come from; a remote scorer is wrapped in the guard."""
    name = settings.classifier_backend
    backend = _backend(name, settings, client, local)
    if name in ("local", "lexicon"):
        return backend
    return GuardedRemote(backend, local, timeout_s=settings.classifier_timeout_s, metrics=metrics)


def shadow_backend(
    settings: ClassifierSettings, *, local: LocalBackend, client: httpx.AsyncClient | None
) -> Backend | None:
    name = settings.classifier_shadow_backend
    return None if name is None else _backend(name, settings, client, local)
