"""Run a service's app with uvicorn and JSON logs."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from shared.logs import configure_logging
from shared.settings import CommonSettings


def serve(app: FastAPI, settings: CommonSettings, *, service: str) -> None:
    configure_logging(service, settings.log_level)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
