"""Run a service's app with uvicorn and JSON logs, within the bounds of ``HttpLimits``."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp

from shared.collector import tune_collector
from shared.http_limits import BodyDeadline, HeaderBoundProtocol, HttpLimits
from shared.logs import configure_logging
from shared.settings import CommonSettings


def serve(app: ASGIApp, settings: CommonSettings, *, service: str) -> None:
    configure_logging(service, settings.log_level)
    tune_collector()
    limits = HttpLimits()
    uvicorn.run(
        BodyDeadline(app, timeout_s=limits.body_timeout_s),
        host=settings.http_host,
        port=settings.http_port,
        http=HeaderBoundProtocol.bounded(limits.header_timeout_s),
        timeout_keep_alive=limits.keep_alive_s,
        limit_concurrency=limits.max_connections,
        backlog=limits.backlog,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # no service reads the client address or scheme
        timeout_graceful_shutdown=20,
    )
