"""Run a service's app with uvicorn and JSON logs, within the bounds of ``HttpLimits``."""

from __future__ import annotations

import contextlib
import sys
from types import FrameType

import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import STARTUP_FAILURE

from shared.collector import tune_collector
from shared.http_limits import BodyDeadline, HeaderBoundProtocol, HttpLimits
from shared.logs import configure_logging
from shared.settings import CommonSettings
from shared.shutdown import SERVER_SHUTDOWN, Shutdown

GRACEFUL_SHUTDOWN_S = 20


class StoppingServer(uvicorn.Server):
    """A uvicorn server that also tells ``shutdown`` when it is asked to exit, so that long
    responses (event streams) end at once rather than hold the graceful shutdown."""

    def __init__(self, config: uvicorn.Config, *, shutdown: Shutdown) -> None:
        super().__init__(config)
        self.shutdown_signal = shutdown

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.shutdown_signal.begin()


def serve(app: ASGIApp, settings: CommonSettings, *, service: str) -> None:
    configure_logging(service, settings.log_level)
    tune_collector()
    limits = HttpLimits()
    config = uvicorn.Config(
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
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = StoppingServer(config, shutdown=SERVER_SHUTDOWN)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run does
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
