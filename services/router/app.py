"""The router service as a process of its own."""

from __future__ import annotations

from fastapi import FastAPI

from services.router.access.openapi import document_security
from services.router.component import PriorityRouterComponent, RouterComponent
from services.router.settings import RouterSettings
from shared.service import standalone_app


def create_app(settings: RouterSettings) -> FastAPI:
    routine = RouterComponent(settings)
    app = standalone_app(
        settings,
        routine,
        PriorityRouterComponent(routine),
        title="Vigie router",
        description="Applies the escalation policy; owns cases and their API.",
    )
    document_security(app)
    return app
