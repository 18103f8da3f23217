"""The classifier service as a process of its own."""

from __future__ import annotations

from fastapi import FastAPI

from services.classifier.settings import ClassifierSettings
from services.classifier.worker import ClassifierComponent, PriorityClassifierComponent
from shared.service import standalone_app


def create_app(settings: ClassifierSettings) -> FastAPI:
    routine = ClassifierComponent(settings)
    return standalone_app(
        settings,
        routine,
        PriorityClassifierComponent(routine),
        title="Vigie classifier",
        description="Tags comments sensitive, abusive, question or praise.",
    )
