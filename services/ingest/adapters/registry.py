"""Every platform adapter, built from the ingest settings, mounted on ``/webhooks/...``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.ingest.adapters import discourse, generic, meta, slack, x, youtube
from services.ingest.adapters.base import Adapter
from services.ingest.settings import IngestSettings

Signer = Callable[[bytes, bytes, datetime], dict[str, str]]

ADAPTERS: dict[str, tuple[Callable[[IngestSettings], Adapter], Signer]] = {
    generic.PLATFORM: (generic.GenericAdapter, generic.platform_headers),
    meta.PLATFORM: (meta.MetaAdapter, meta.platform_headers),
    x.PLATFORM: (x.XAdapter, x.platform_headers),
    youtube.PLATFORM: (youtube.YouTubeAdapter, youtube.platform_headers),
    discourse.PLATFORM: (discourse.DiscourseAdapter, discourse.platform_headers),
    slack.PLATFORM: (slack.SlackAdapter, slack.platform_headers),
}


def build_adapters(settings: IngestSettings) -> list[Adapter]:
    return [factory(settings) for factory, _ in ADAPTERS.values()]


def signer(platform: str) -> Signer:
    """How ``platform`` signs a body: for local simulation, tests and the benchmark."""
    return ADAPTERS[platform][1]
