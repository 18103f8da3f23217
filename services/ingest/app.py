"""The ingest service as a process of its own: the webhook routes and the YouTube poller."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from services.ingest.api import IngestComponent
from services.ingest.dispatch import WebhookDispatch
from services.ingest.settings import IngestSettings
from services.ingest.youtube_poller import YouTubePoller
from shared.service import standalone_app


def create_app(settings: IngestSettings) -> ASGIApp:
    """The application, with webhook POSTs answered in front of the framework's layers."""
    ingest = IngestComponent(settings)
    app: FastAPI = standalone_app(
        settings,
        ingest,
        YouTubePoller(settings),
        title="Vigie ingest",
        description="Signed platform webhooks, verified and normalised onto Kafka.",
    )
    return WebhookDispatch(app, component=ingest)
