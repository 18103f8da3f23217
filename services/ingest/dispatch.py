"""Webhook POSTs go straight from the ASGI server to the ingest component.

The framework's routing, exception and dependency layers cost more CPU per webhook than the
webhook's own work (verify, parse, publish). This middleware matches the adapters' paths
itself and hands the request to ``IngestComponent.receive``; everything else (handshakes,
health, metrics, the documented routes and their OpenAPI description) goes through the
application unchanged. The FastAPI routes behave the same, so the result does not depend on
which one serves a request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest.adapters.base import Adapter

if TYPE_CHECKING:
    from services.ingest.api import IngestComponent


def compile_paths(adapters: Sequence[Adapter]) -> list[tuple[re.Pattern[str], Adapter]]:
    return [(compile_path(adapter.path)[0], adapter) for adapter in adapters]


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
                    response = await self._component.receive(adapter, Request(scope, receive))
                    await response(scope, receive, send)
                    return
        await self._app(scope, receive, send)
