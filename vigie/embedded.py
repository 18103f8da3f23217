"""All four services in one process, on the in-memory bus and SQLite: ``vigie run``.

Same components, same policy as the distributed stack; only the runtime differs. Secrets
that are not configured are generated once into ``<data dir>/secrets.env`` (mode 0600); on a
fresh database, an ``admin`` user is made for the console and its password printed once.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from pydantic import Field, SecretStr

from services.classifier.settings import ClassifierSettings
from services.classifier.worker import ClassifierComponent, PriorityClassifierComponent
from services.ingest.api import IngestComponent
from services.ingest.settings import IngestSettings
from services.ingest.youtube_poller import YouTubePoller
from services.notifier.settings import NotifierSettings
from services.notifier.worker import CriticalNotifierComponent, NotifierComponent
from services.router.access.bootstrap import FIRST_ADMIN, first_admin
from services.router.access.openapi import document_security
from services.router.component import PriorityRouterComponent, RouterComponent
from services.router.settings import RouterSettings
from shared.bus.memory import MemoryBus
from shared.runtime import Runtime
from shared.service import service_app
from shared.storage.engine import create_engine
from shared.storage.migrate import upgrade_async

SECRET_NAMES = (
    "VIGIE_GENERIC_WEBHOOK_SECRET",
    "VIGIE_WEBHOOK_SIGNING_SECRET",
    "VIGIE_ROUTER_API_TOKEN",
    "VIGIE_ACK_TOKEN_SECRET",
)


class EmbeddedSettings(IngestSettings, ClassifierSettings, RouterSettings, NotifierSettings):
    http_port: int = Field(default=8080, ge=1, le=65535)
    console_url: str = "http://127.0.0.1:8080"


def secrets_file(data_dir: Path) -> Path:
    return data_dir / "secrets.env"


def ensure_secrets(data_dir: Path) -> dict[str, str]:
    """Secrets from the environment, else from (or newly into) ``secrets.env``."""
    path = secrets_file(data_dir)
    stored: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip() in SECRET_NAMES:
                stored[name.strip()] = value.strip()
    missing = [n for n in SECRET_NAMES if n not in stored]
    if missing:
        data_dir.mkdir(parents=True, exist_ok=True)
        stored.update({n: secrets.token_hex(32) for n in missing})
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{n}={stored[n]}\n" for n in SECRET_NAMES)
    return {n: os.environ.get(n) or stored[n] for n in SECRET_NAMES}


def load_settings(**overrides: object) -> EmbeddedSettings:
    base = EmbeddedSettings(**overrides)  # type: ignore[arg-type]
    values = ensure_secrets(base.data_dir)
    console_url = os.environ.get("VIGIE_CONSOLE_URL") or f"http://{base.http_host}:{base.http_port}"
    return base.model_copy(
        update={
            "console_url": console_url,
            "console_insecure_cookies": base.console_insecure_cookies
            or _plain_http_loopback(console_url),
            "generic_webhook_secret": SecretStr(values["VIGIE_GENERIC_WEBHOOK_SECRET"]),
            "webhook_signing_secret": SecretStr(values["VIGIE_WEBHOOK_SIGNING_SECRET"]),
            "router_api_token": SecretStr(values["VIGIE_ROUTER_API_TOKEN"]),
            "ack_token_secret": SecretStr(values["VIGIE_ACK_TOKEN_SECRET"]),
        }
    )


def _plain_http_loopback(url: str) -> bool:
    """A console reached over plain HTTP on this machine only: a Secure cookie would never
    come back, and nothing crosses a network."""
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def create_app(settings: EmbeddedSettings) -> FastAPI:
    database = settings.data_dir.resolve() / "vigie.db"
    url = f"sqlite+aiosqlite:///{database}"

    async def runtime() -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await upgrade_async(url)
        engine = create_engine(url)
        password = await first_admin(engine, now=datetime.now(UTC))
        if password is not None:
            sys.stderr.write(
                f"Console user {FIRST_ADMIN!r} created; its password, shown this once: "
                f"{password}\n(change it with `vigie users password {FIRST_ADMIN}`)\n"
            )
        return Runtime(bus=MemoryBus(partitions=settings.kafka_partitions), engine=engine)

    classifier, router = ClassifierComponent(settings), RouterComponent(settings)
    app = service_app(
        title="Vigie (embedded)",
        description="All four services in one process: ingest, classifier, router, notifier.",
        open_runtime=runtime,
        components=[
            IngestComponent(settings),
            YouTubePoller(settings),
            classifier,
            PriorityClassifierComponent(classifier),
            router,
            PriorityRouterComponent(router),
            NotifierComponent(settings),
            CriticalNotifierComponent(settings),
        ],
    )
    document_security(app)
    return app
