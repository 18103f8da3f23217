"""The HTTP shell every service shares: /healthz, /readyz, /metrics and a lifespan that
starts and stops the service's components (Kafka stages, HTTP routes) in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError

from shared.http_limits import refuse_unstorable_text
from shared.runtime import Runtime, open_runtime
from shared.settings import CommonSettings
from shared.storage.engine import ping as db_ping


class Component(Protocol):
    """A part of a service: it may serve routes and run background work."""

    @property
    def name(self) -> str: ...

    def routes(self) -> APIRouter | None: ...

    async def start(self, runtime: Runtime) -> None: ...

    async def stop(self) -> None: ...

    def ready(self) -> bool: ...


def health_routes(state: ServiceState) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: broker, database and every component are up.")
    async def readyz() -> JSONResponse:
        checks = await state.checks()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics.", include_in_schema=False)
    async def metrics() -> Response:
        runtime = state.runtime
        if runtime is not None:
            await runtime.refresh_metrics()
        body = generate_latest(runtime.registry) if runtime else b""
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


PING_MAX_AGE_S = 1.0
"""The broker and the database are asked at most this often, whatever the rate of
``/readyz`` probes: a port open to the world must not let anyone turn probes into work for
the event loop that routes crisis comments."""


class ServiceState:
    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.runtime: Runtime | None = None
        self.components: list[Component] = []
        self._monotonic = monotonic
        self._pinged: tuple[float, dict[str, bool]] | None = None
        self._pinging: asyncio.Future[dict[str, bool]] | None = None

    async def checks(self) -> dict[str, bool]:
        runtime = self.runtime
        if runtime is None:
            return {"started": False}
        checks = dict(await self._connections(runtime))
        for component in self.components:
            checks[component.name] = component.ready()
        return checks

    async def _connections(self, runtime: Runtime) -> dict[str, bool]:
        """The broker's and the database's answers, at most ``PING_MAX_AGE_S`` old; probes
        that arrive while they are asked share the answer."""
        if self._pinged is not None and self._monotonic() - self._pinged[0] < PING_MAX_AGE_S:
            return self._pinged[1]
        if self._pinging is None:
            self._pinging = asyncio.ensure_future(self._ping(runtime))
        return await asyncio.shield(self._pinging)

    async def _ping(self, runtime: Runtime) -> dict[str, bool]:
        try:
            answers = {
                "broker": await runtime.bus.ping(),
                "database": await db_ping(runtime.engine),
            }
            self._pinged = (self._monotonic(), answers)
            return answers
        finally:
            self._pinging = None


def service_app(
    *,
    title: str,
    open_runtime: Callable[[], Awaitable[Runtime]],
    components: Sequence[Component],
    description: str = "",
    version: str = "0.1.0",
) -> FastAPI:
    """A FastAPI app whose lifespan opens the runtime, then starts each component."""
    state = ServiceState()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await open_runtime()
        state.runtime = runtime
        started: list[Component] = []
        try:
            for component in components:
                await component.start(runtime)
                started.append(component)
            state.components = started
            yield
        finally:
            for component in reversed(started):
                await component.stop()
            await runtime.close()

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.include_router(health_routes(state))
    app.add_exception_handler(DBAPIError, refuse_unstorable_text)  # NUL in text: 400, not 500
    for component in components:
        routes = component.routes()
        if routes is not None:
            app.include_router(routes)
    app.state.vigie = state
    return app


def standalone_app(
    settings: CommonSettings, *components: Component, title: str, description: str
) -> FastAPI:
    """One service as a process of its own, on Kafka and the configured database.

    The first component names the service's Kafka client.
    """

    async def runtime() -> Runtime:
        return await open_runtime(settings, client_id=f"vigie-{components[0].name}")

    return service_app(
        title=title, description=description, open_runtime=runtime, components=list(components)
    )
