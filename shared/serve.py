"""Run a service's app with uvicorn and JSON logs, within the bounds of ``HttpLimits``."""

from __future__ import annotations

import gc

import uvicorn
from starlette.types import ASGIApp

from shared.http_limits import BodyDeadline, HeaderBoundProtocol, HttpLimits
from shared.logs import configure_logging
from shared.settings import CommonSettings

# Handling a record or a webhook allocates many short-lived objects; with the default
# threshold (700) the young generation was collected every few webhooks, and the full
# collections that follow paused the event loop for tens of milliseconds: the tail of the
# latency.
GC_THRESHOLDS = (20_000, 20, 20)


def serve(app: ASGIApp, settings: CommonSettings, *, service: str) -> None:
    configure_logging(service, settings.log_level)
    # What start-up built (modules, schemas, the app) lives as long as the process: kept out
    # of every collection, so that a full one scans only what the work left behind.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
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
