"""The ingest service as a process of its own."""

from __future__ import annotations

from fastapi import FastAPI

from services.ingest.api import IngestComponent
from services.ingest.settings import IngestSettings
from shared.runtime import Runtime, open_runtime
from shared.service import service_app


def create_app(settings: IngestSettings) -> FastAPI:
    async def runtime() -> Runtime:
        return await open_runtime(settings, client_id="vigie-ingest")

    return service_app(
        title="Vigie ingest",
        description="Signed platform webhooks, verified and normalised onto Kafka.",
        open_runtime=runtime,
        components=[IngestComponent(settings)],
    )
