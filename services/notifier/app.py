"""The notifier service as a process of its own."""

from __future__ import annotations

from fastapi import FastAPI

from services.notifier.settings import NotifierSettings
from services.notifier.worker import CriticalNotifierComponent, NotifierComponent
from shared.service import standalone_app


def create_app(settings: NotifierSettings) -> FastAPI:
    return standalone_app(
        settings,
        NotifierComponent(settings),
        CriticalNotifierComponent(settings),
        title="Vigie notifier",
        description="Delivers actions to stakeholders; one delivery per idempotency key.",
    )
