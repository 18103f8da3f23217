"""The router service as a process of its own."""

from __future__ import annotations

from fastapi import FastAPI

from services.router.component import RouterComponent
from services.router.settings import RouterSettings
from shared.runtime import Runtime, open_runtime
from shared.service import service_app


def create_app(settings: RouterSettings) -> FastAPI:
    async def runtime() -> Runtime:
        return await open_runtime(settings, client_id="vigie-router")

    return service_app(
        title="Vigie router",
        description="Applies the escalation policy; owns cases and their API.",
        open_runtime=runtime,
        components=[RouterComponent(settings)],
    )
