"""A service component that is one Kafka stage.

A subclass names what it consumes and produces and how it processes a batch; starting,
stopping and readiness are the same for every stage and live here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, Generic, TypeVar

from fastapi import APIRouter

from shared.bus import Message
from shared.codec import decoder
from shared.collector import freeze_startup_heap
from shared.events import Event
from shared.metrics import Backlog, BacklogGauges, StageMetrics, build_info, comment_time
from shared.runtime import Runtime
from shared.stage import Decoded, Stage
from shared.topics import dlq

E = TypeVar("E", bound=Event)


class StageComponent(Generic[E]):
    name: ClassVar[str]
    group: ClassVar[str]
    source: ClassVar[str]
    outputs: ClassVar[tuple[str, ...]]
    model: type[E]

    def __init__(self, *, batch_size: int) -> None:
        self._batch_size = batch_size
        self._stage: Stage[E] | None = None

    def routes(self) -> APIRouter | None:
        return None

    def before_batch(self) -> Callable[[], Awaitable[None]] | None:
        """What the stage awaits before each batch (None: nothing)."""
        return None

    async def prepare(self, runtime: Runtime) -> None:
        """Open what ``process`` needs (metrics, clients) before the first record."""

    async def process(self, batch: Sequence[Decoded[E]]) -> Sequence[Message]:
        raise NotImplementedError

    async def close(self) -> None:
        """Release what ``prepare`` opened, once the stage has stopped."""

    async def start(self, runtime: Runtime) -> None:
        await self.prepare(runtime)
        await runtime.bus.ensure_topics(self.outputs)
        freeze_startup_heap()  # before the first batch, which the collection would delay
        self._stage = Stage(
            name=self.name,
            bus=runtime.bus,
            topics=[self.source],
            group=self.group,
            decode=decoder(self.model),
            process=self.process,
            metrics=StageMetrics.for_registry(runtime.registry),
            batch_size=self._batch_size,
            event_time=comment_time,
            clock=runtime.clock,
            before_batch=self.before_batch(),
        )
        await self._stage.start()
        build_info(runtime.registry, self.name)
        assert self._stage.consumer is not None
        backlog = Backlog(
            BacklogGauges.for_registry(runtime.registry),
            self._stage.consumer,
            group=self.group,
            dlq_topics=[dlq(self.source)],
        )
        runtime.scrape_hooks.append(backlog.refresh)

    async def stop(self) -> None:
        if self._stage is not None:
            await self._stage.stop()
        await self.close()

    def ready(self) -> bool:
        return self._stage is not None and self._stage.running
