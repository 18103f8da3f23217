"""What a service holds while it runs: bus, database, metrics registry, clock.

The same service code runs in three set-ups: alone on Kafka + PostgreSQL (``make stack``),
all four in one process on the in-memory bus + SQLite (``vigie run``), and in unit tests.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus import Bus
from shared.bus.kafka import KafkaBus
from shared.settings import CommonSettings
from shared.storage.engine import create_engine
from shared.storage.migrate import upgrade_async
from shared.topics import URGENT_TOPICS

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    bus: Bus
    engine: AsyncEngine
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    clock: Clock = utc_now
    # Read just before /metrics answers: gauges counted from the broker or the database.
    scrape_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def refresh_metrics(self) -> None:
        for hook in self.scrape_hooks:
            await hook()

    async def close(self) -> None:
        await self.bus.stop()
        await self.engine.dispose()


async def open_runtime(settings: CommonSettings, *, client_id: str) -> Runtime:
    """Kafka + the configured database; applies migrations first when asked to."""
    if settings.migrate_on_start:
        log.info("applying database migrations")
        await upgrade_async(settings.database_url)
    bus = KafkaBus(
        settings.kafka_bootstrap,
        client_id=client_id,
        partitions=settings.kafka_partitions,
        replication_factor=settings.kafka_replication_factor,
        group_prefix=settings.kafka_group_prefix,
        urgent_topics=URGENT_TOPICS,
    )
    await bus.start()
    return Runtime(bus=bus, engine=create_engine(settings.database_url))
