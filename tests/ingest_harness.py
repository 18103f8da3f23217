"""Ingest served in-process on a given runtime, with test secrets for every platform.

Used by the integration tests (real Kafka and PostgreSQL) and by the fuzz tests (memory bus,
SQLite): the same settings, the same signing of fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from services.ingest.adapters.registry import signer
from services.ingest.api import IngestComponent
from services.ingest.dispatch import WebhookDispatch
from services.ingest.settings import IngestSettings
from shared.runtime import Runtime
from shared.service import service_app
from tests.webhook_fixtures import Fixture

# During a rotation two secrets are live: fixtures are signed with the newer one.
OLD_SECRET, NEW_SECRET = "old-secret", "new-secret"
ROTATING = SecretStr(f"{OLD_SECRET},{NEW_SECRET}")
VERIFY_TOKEN = "meta-verify-token"


def settings(**overrides: object) -> IngestSettings:
    values: dict[str, object] = {
        "generic_webhook_secret": ROTATING,
        "meta_app_secret": ROTATING,
        "meta_verify_token": SecretStr(VERIFY_TOKEN),
        "x_consumer_secret": ROTATING,
        "youtube_hub_secret": ROTATING,
        "discourse_webhook_secret": ROTATING,
        "slack_signing_secret": ROTATING,
        **overrides,
    }
    return IngestSettings(**values)  # type: ignore[arg-type]


def signed_headers(fixture: Fixture, now: datetime, secret: str = NEW_SECRET) -> dict[str, str]:
    """Every header the platform would send with this fixture, signature included."""
    signing = signer(fixture.platform)(fixture.body, secret.encode(), now)
    return {"content-type": fixture.content_type, **fixture.headers, **signing}


def url_of(fixture: Fixture, path: str) -> str:
    return path.format(**fixture.path_params) if fixture.path_params else path


@dataclass
class Served:
    app: FastAPI
    client: httpx.AsyncClient
    component: IngestComponent

    def path(self, platform: str) -> str:
        for adapter in self.component.adapters:
            if adapter.platform == platform:
                return adapter.path
        raise KeyError(platform)

    async def post(self, fixture: Fixture, now: datetime, **headers: str) -> httpx.Response:
        sent = {**signed_headers(fixture, now), **headers}
        url = url_of(fixture, self.path(fixture.platform))
        return await self.client.post(url, content=fixture.body, headers=sent)


@asynccontextmanager
async def serve(runtime: Runtime, ingest_settings: IngestSettings) -> AsyncIterator[Served]:
    component = IngestComponent(ingest_settings)

    async def open_runtime() -> Runtime:
        return runtime

    app = service_app(title="ingest under test", open_runtime=open_runtime, components=[component])
    app.add_middleware(WebhookDispatch, component=component)  # as the ingest process serves
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield Served(app=app, client=client, component=component)
