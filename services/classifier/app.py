"""The classifier service as a process of its own."""

from __future__ import annotations

from fastapi import FastAPI

from services.classifier.settings import ClassifierSettings
from services.classifier.worker import ClassifierComponent
from shared.runtime import Runtime, open_runtime
from shared.service import service_app


def create_app(settings: ClassifierSettings) -> FastAPI:
    async def runtime() -> Runtime:
        return await open_runtime(settings, client_id="vigie-classifier")

    return service_app(
        title="Vigie classifier",
        description="Tags comments sensitive, abusive, question or praise.",
        open_runtime=runtime,
        components=[ClassifierComponent(settings)],
    )
