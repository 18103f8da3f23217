"""The notifier service as a process of its own."""

from __future__ import annotations

from fastapi import FastAPI

from services.notifier.settings import NotifierSettings
from services.notifier.worker import NotifierComponent
from shared.runtime import Runtime, open_runtime
from shared.service import service_app


def create_app(settings: NotifierSettings) -> FastAPI:
    async def runtime() -> Runtime:
        return await open_runtime(settings, client_id="vigie-notifier")

    return service_app(
        title="Vigie notifier",
        description="Delivers actions to stakeholders; one delivery per idempotency key.",
        open_runtime=runtime,
        components=[NotifierComponent(settings)],
    )
