"""The loop every Kafka stage runs: poll -> decode -> process -> publish -> commit.

A stage supplies ``decode`` (bytes to a typed event; a failure marks the record as poison)
and ``process`` (a batch of events to the messages to publish, doing its idempotent
writes on the way). The loop owns the rules that keep delivery at-least-once:

- offsets are committed only after every output message is acknowledged by the broker;
- a poison record goes to ``<topic>.dlq`` with the reason and its source position in the
  headers, and never blocks its partition;
- an infrastructure failure (broker, database, network) is retried with backoff, on the
  same batch, forever: nothing is committed, nothing is dropped;
- any other failure of a batch is narrowed down record by record, and only the record that
  fails on its own goes to the DLQ.

The next batch is polled and processed while the previous one is published and committed
(one batch ahead at most): a batch's latency no longer includes the previous batch's
acknowledgement and commit, and every guarantee above holds batch by batch, in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

import httpx
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from shared.bus import Bus, BusUnavailable, Consumer, Message, Record
from shared.logs import trace
from shared.metrics import StageMetrics, age_seconds
from shared.topics import dlq

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

RECOVERABLE: tuple[type[BaseException], ...] = (
    BusUnavailable,
    OSError,
    TimeoutError,
    OperationalError,
    InterfaceError,
    httpx.TransportError,
)


# SQLSTATEs of a database that is away or busy, not of a bad record: connection exceptions
# (class 08), insufficient resources (53), operator intervention (57: shutting down, or
# starting up and "not yet accepting connections"), and a transaction to run again (40001
# serialization failure, 40P01 deadlock). The driver raises some of them as a plain
# DBAPIError (a connection refused during recovery), which must not send a record to a DLQ.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")
_TRANSIENT_SQLSTATES = ("40001", "40P01")


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE the database (or the driver) gave, from the error or what caused it."""
    seen: BaseException | None = exc
    for _ in range(5):  # the driver's error is at most a few links down the chain
        if seen is None:
            return None
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str) and state:
            return state
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def is_recoverable(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = _sqlstate(exc)
        if state is not None and (
            state[:2] in _TRANSIENT_SQLSTATE_CLASSES or state in _TRANSIENT_SQLSTATES
        ):
            return True
    return isinstance(exc, RECOVERABLE)


@dataclass(frozen=True, slots=True)
class Decoded(Generic[T]):
    record: Record
    event: T


@dataclass(frozen=True, slots=True)
class _Processed(Generic[T]):
    """A batch whose writes are done: what to publish before its offsets are committed."""

    records: Sequence[Record]
    decoded: list[Decoded[T]]
    out: list[Message]
    poison: list[Message]
    started: float


class PoisonRecord(Exception):
    """A record this stage can never process: it goes to the DLQ with this reason."""


def dlq_message(record: Record, reason: str, stage: str) -> Message:
    headers = tuple(h for h in record.headers if not h[0].startswith("vigie-dlq-")) + (
        ("vigie-dlq-reason", reason[:1000].encode()),
        ("vigie-dlq-stage", stage.encode()),
        ("vigie-dlq-source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
    )
    return Message(topic=dlq(record.topic), value=record.value, key=record.key, headers=headers)


def trace_id_of(record: Record) -> str | None:
    value = record.header("trace_id")
    return value.decode(errors="replace") if value else None


class Stage(Generic[T]):
    def __init__(
        self,
        *,
        name: str,
        bus: Bus,
        topics: Sequence[str],
        group: str,
        decode: Callable[[Record], T],
        process: Callable[[Sequence[Decoded[T]]], Awaitable[Sequence[Message]]],
        metrics: StageMetrics,
        batch_size: int = 200,
        poll_timeout_s: float = 0.5,
        max_backoff_s: float = 10.0,
        event_time: Callable[[T], datetime | None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        before_batch: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``before_batch`` is awaited before each polled batch is processed (a routine lane
        gives way there to its process's priority lane)."""
        self.name = name
        self._bus = bus
        self._topics = tuple(topics)
        self._group = group
        self._decode = decode
        self._process = process
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_timeout_s = poll_timeout_s
        self._max_backoff_s = max_backoff_s
        self._event_time = event_time
        self._clock = clock
        self._before_batch = before_batch
        self._consumer: Consumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.running = False

    async def start(self) -> None:
        await self._bus.ensure_topics(self._topics + tuple(dlq(t) for t in self._topics))
        self._consumer = await self._bus.consumer(self._topics, group=self._group)
        self._task = asyncio.create_task(self._run(), name=f"stage:{self.name}")

    @property
    def consumer(self) -> Consumer | None:
        return self._consumer

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 15.0)
            except TimeoutError:
                self._task.cancel()
        if self._consumer is not None:
            await self._consumer.close()
        self.running = False

    async def _run(self) -> None:
        """Poll and process batch N+1 while batch N is published and committed.

        Depth one: ``process`` runs for one batch at a time, in order; a batch's outputs are
        published only once the previous batch's are acknowledged and its offsets committed,
        and its own offsets only once its outputs are acknowledged.
        """
        assert self._consumer is not None
        consumer = self._consumer
        self.running = True
        settling: asyncio.Task[bool] | None = None
        try:
            while not self._stopping.is_set():
                records = await consumer.poll(
                    max_records=self._batch_size, timeout_s=self._poll_timeout_s
                )
                if settling is not None and settling.done():
                    settled, settling = settling.result(), None  # raises what it raised
                    if not settled:
                        break
                if not records:
                    continue
                if self._before_batch is not None:
                    await self._before_batch()
                batch = await self._process_until_done(records)
                if settling is not None:
                    settled, settling = await settling, None
                    if not settled:
                        break  # stopped before N was acknowledged: N+1 must not commit
                if batch is None:
                    break
                settling = asyncio.create_task(self._settle(batch), name=f"stage:{self.name}:out")
            if settling is not None:
                await settling  # stop() drains the last batch
        except Exception:
            # A stage that cannot go on must not leave a process that looks alive: ask the
            # process to stop so that its supervisor restarts it from the committed offsets.
            log.critical("stage %s stopped on an unexpected error", self.name, exc_info=True)
            os.kill(os.getpid(), signal.SIGTERM)
            raise
        finally:
            if settling is not None and not settling.done():
                settling.cancel()
            self.running = False

    async def _process_until_done(self, records: Sequence[Record]) -> _Processed[T] | None:
        """Decode and process a batch, retrying infrastructure failures; None if stopped."""
        started = time.perf_counter()
        return await self._until_done(lambda: self._process_batch(records, started), len(records))

    async def _process_batch(self, records: Sequence[Record], started: float) -> _Processed[T]:
        decoded: list[Decoded[T]] = []
        poison: list[Message] = []
        for record in records:
            try:
                decoded.append(Decoded(record, self._decode(record)))
            except (ValidationError, ValueError, PoisonRecord) as exc:
                poison.append(dlq_message(record, f"undecodable: {exc}", self.name))
        try:
            out = list(await self._process(decoded)) if decoded else []
        except Exception as exc:
            if is_recoverable(exc):
                raise
            out = await self._isolate(decoded, poison)
        return _Processed(records, decoded, out, poison, started)

    async def _settle(self, batch: _Processed[T]) -> bool:
        """Publish a processed batch until the broker acknowledges it, then commit its
        offsets; False if stopped first (nothing committed: the batch comes again).

        The outputs are values already computed and the writes behind them are done, so
        an unacknowledged publish is retried on its own, with the same messages.
        """
        assert self._consumer is not None

        async def publish() -> bool:
            await self._bus.publish(batch.out + batch.poison)
            return True

        if await self._until_done(publish, len(batch.records)) is None:
            return False
        for message in batch.out:
            self._metrics.published.labels(message.topic).inc()
        self._metrics.records.labels(self.name, "dlq").inc(len(batch.poison))
        self._metrics.records.labels(self.name, "ok").inc(len(batch.records) - len(batch.poison))
        self._observe_age(batch.decoded)
        await self._consumer.commit(batch.records)
        self._metrics.seconds.labels(self.name).observe(time.perf_counter() - batch.started)
        return True

    async def _until_done(self, attempt: Callable[[], Awaitable[R]], records: int) -> R | None:
        """``attempt()``'s result, retrying infrastructure failures with backoff, forever;
        None if the stage is stopped meanwhile."""
        backoff = 0.2
        while True:
            try:
                return await attempt()
            except Exception as exc:
                if not is_recoverable(exc):
                    raise
                self._log_retry(exc, records, backoff)
            if await self._stopped_within(backoff):
                return None
            backoff = min(backoff * 2, self._max_backoff_s)

    def _log_retry(self, exc: BaseException, records: int, backoff: float) -> None:
        self._metrics.records.labels(self.name, "retry").inc(records)
        log.warning(
            "stage %s: %s, retrying in %.1fs",
            self.name,
            type(exc).__name__,
            backoff,
            extra={"fields": {"error": str(exc)[:300]}},
        )

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _observe_age(self, decoded: Sequence[Decoded[T]]) -> None:
        if self._event_time is None or not decoded:
            return
        now, histogram = self._clock(), self._metrics.event_age.labels(self.name)
        for item in decoded:
            at = self._event_time(item.event)
            if at is not None:
                histogram.observe(age_seconds(at, now))

    async def _isolate(self, decoded: Sequence[Decoded[T]], poison: list[Message]) -> list[Message]:
        """Process one record at a time so a single bad record cannot take its batch down."""
        out: list[Message] = []
        for item in decoded:
            try:
                out.extend(await self._process([item]))
            except Exception as exc:
                if is_recoverable(exc):
                    raise
                self._log_poison(item.record, exc)
                poison.append(dlq_message(item.record, _reason(exc), self.name))
        return out

    def _log_poison(self, record: Record, exc: BaseException) -> None:
        with trace(trace_id_of(record)):
            log.error(
                "stage %s: record sent to the DLQ",
                self.name,
                exc_info=exc,
                extra={"fields": {"source": f"{record.topic}/{record.partition}/{record.offset}"}},
            )


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
