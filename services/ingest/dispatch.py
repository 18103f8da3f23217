"""Webhook POSTs go straight from the ASGI server to the ingest component.

The framework's routing, exception, telemetry and dependency layers cost more CPU per
webhook than the webhook's own work (verify, parse, publish). ``WebhookDispatch`` sits in
front of the whole application: it matches the adapters' paths itself and hands the request
to ``IngestComponent.receive``; everything else (handshakes, health, metrics, the documented
routes and their OpenAPI description, the lifespan) goes to the application unchanged. The
FastAPI routes behave the same, so the result does not depend on which one serves a request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest.adapters.base import Adapter

if TYPE_CHECKING:
    from services.ingest.api import IngestComponent

log = logging.getLogger(__name__)


def compile_paths(adapters: Sequence[Adapter]) -> list[tuple[re.Pattern[str], Adapter]]:
    return [(compile_path(adapter.path)[0], adapter) for adapter in adapters]


def trailing_slash_redirect(scope: Scope) -> Response:
    """The framework's redirect to the path without its trailing slash, with a reason in the
    body as every other answer that is not a success has."""
    location = quote(scope["path"].rstrip("/"))  # the decoded path, escaped again
    query: bytes = scope.get("query_string", b"")
    if query:
        location += "?" + query.decode("latin-1")
    reason = {"error": "webhook paths have no trailing slash", "location": location}
    return JSONResponse(reason, status_code=307, headers={"location": location})


class WebhookDispatch:
    def __init__(self, app: ASGIApp, component: IngestComponent) -> None:
        self._app = app
        self._component = component
        self._paths = compile_paths(component.adapters)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            for pattern, adapter in self._paths:
                match = pattern.match(path)
                if match is not None:
                    scope["path_params"] = match.groupdict()
                    await self._answer(adapter, scope, receive, send)
                    return
            if path.endswith("/") and self._matches(path.rstrip("/")):
                await trailing_slash_redirect(scope)(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _matches(self, path: str) -> bool:
        return any(pattern.match(path) for pattern, _ in self._paths)

    async def _answer(self, adapter: Adapter, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._component.receive(adapter, Request(scope, receive))
        except Exception:
            # What the application's error middleware does for its own routes.
            log.exception("webhook handling failed")
            response = JSONResponse({"error": "internal error"}, status_code=500)
        await response(scope, receive, send)
