"""The bus on Apache Kafka, through aiokafka.

The producer is idempotent with ``acks=all``; ``publish`` awaits every delivery future, so a
caller that returns success has its messages on the broker. Consumers never auto-commit.

Messages for the ``urgent_topics`` (the crisis lanes) go through a producer of their own:
aiokafka keeps one produce request in flight per broker and producer, so on the routine
producer a crisis message would wait for whatever routine request is in flight, then ride in
the next one with the routine batches. Each topic always goes through the same producer, so
the order of a partition's messages is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Collection, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from aiokafka.protocol.metadata import MetadataRequest

from shared.bus.partitioner import partition_of
from shared.bus.protocol import (
    Acked,
    BusUnavailable,
    Message,
    PartitionOffsets,
    Record,
    commit_positions,
)

log = logging.getLogger(__name__)
ASK_TIMEOUT_S = 5.0

# Errors after which an idempotent producer never delivers again: its sequence numbers no
# longer match what the broker holds (a broker restarted while batches were in flight, say).
# The only way out is a new producer, with a new producer id.
PRODUCER_BROKEN = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)


# While a partition's batch is in flight (the idempotent producer sends one at a time per
# partition) the next messages gather in one batch; when that batch is full, every further
# send waits for a round trip. aiokafka's default, 16 KiB, filled with a few dozen comments:
# a classifier's or router's batch of output waited for several round trips in a row. Half
# of the broker's default largest record batch (1 MiB).
MAX_BATCH_BYTES = 512 * 1024


class KafkaBus:
    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        partitions: int = 3,
        replication_factor: int = 1,
        publish_timeout_s: float = 10.0,
        linger_ms: int = 1,
        group_prefix: str = "",
        urgent_topics: Collection[str] = (),
    ) -> None:
        self._bootstrap = bootstrap
        self._group_prefix = group_prefix
        self._client_id = client_id
        self._partitions = partitions
        self._replication = replication_factor
        self._publish_timeout_s = publish_timeout_s
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._urgent_topics = frozenset(urgent_topics)
        self._urgent: AIOKafkaProducer | None = None
        # Messages queued by a publish that timed out, by (topic, event id), until settled.
        self._inflight: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._replacing = asyncio.Lock()

    async def start(self) -> None:
        self._producer = await self._new_producer()
        if self._urgent_topics:
            try:
                self._urgent = await self._new_producer(linger_ms=0)
            except BaseException:
                await self._producer.stop()
                self._producer = None
                raise

    def _producer_for(self, topic: str) -> AIOKafkaProducer | None:
        if topic in self._urgent_topics and self._urgent is not None:
            return self._urgent
        return self._producer

    async def _new_producer(self, *, linger_ms: int | None = None) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._linger_ms if linger_ms is None else linger_ms,
            max_batch_size=MAX_BATCH_BYTES,
            partitioner=partition_of,
            request_timeout_ms=int(self._publish_timeout_s * 1000),
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()  # release its connections, or they leak
            raise
        return producer

    async def _replace(self, broken: AIOKafkaProducer) -> None:
        """Swap a producer that can no longer deliver for a new one (once, whoever asks).

        What the broken one still held fails, so its callers answered "unavailable" and send
        again: nothing is lost, and consumers drop a copy by its event id.
        """
        async with self._replacing:
            # Unless another publish already replaced it.
            replaced = broken in (self._producer, self._urgent)
            if replaced:
                log.warning("a producer can no longer deliver; starting a new one")
                if self._producer is broken:
                    self._producer = await self._new_producer()
                else:
                    self._urgent = await self._new_producer(linger_ms=0)
        if replaced:
            await broken.stop()

    async def stop(self) -> None:
        if self._urgent is not None:
            await self._urgent.stop()
            self._urgent = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def ping(self) -> bool:
        """Whether a broker answers a metadata request for no topic. (Asking for every
        topic's metadata, as the client's own refresh does, costs tens of milliseconds of
        CPU on a cluster of a thousand topics, at every probe.)"""
        producer = self._producer
        if producer is None:
            return False
        try:
            await ask_a_broker(producer.client, MetadataRequest([]))
        except (KafkaError, OSError, TimeoutError):
            return False
        return True

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id=self._client_id)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t not in existing]
            if not missing:
                return
            new = [NewTopic(t, self._partitions, self._replication) for t in missing]
            # Another service may have created it first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        finally:
            await admin.close()

    async def publish(self, messages: Sequence[Message], *, on_acked: Acked | None = None) -> None:
        if not messages:
            return
        used: list[AIOKafkaProducer] = []
        futures: list[asyncio.Future[Any]] = []
        try:
            for message in messages:
                producer = self._producer_for(message.topic)
                if producer is None:
                    raise BusUnavailable("producer not started")
                if producer not in used:
                    used.append(producer)
                futures.append(await self._queue(producer, message))
        except KafkaError as exc:
            raise BusUnavailable(f"broker did not take the messages: {type(exc).__name__}") from exc
        acked = _all_acked(futures, on_acked)
        # Waiting ends at the deadline, the messages stay queued: the idempotent producer
        # delivers them once the broker is back, exactly once, and ``on_acked`` still runs.
        expiry = asyncio.get_running_loop().call_later(self._publish_timeout_s, _expire, acked)
        try:
            await acked
        except (KafkaError, TimeoutError) as exc:
            if isinstance(exc, PRODUCER_BROKEN):
                # Which of them broke is not known: a working one replaced too only fails
                # what it held, which its callers send again.
                for producer in used:
                    with contextlib.suppress(KafkaError, OSError):
                        await self._replace(producer)
            raise BusUnavailable(f"broker did not acknowledge: {type(exc).__name__}") from exc
        finally:
            expiry.cancel()

    async def _queue(self, producer: AIOKafkaProducer, message: Message) -> asyncio.Future[Any]:
        if message.event_id is not None:
            queued = self._inflight.get((message.topic, message.event_id))
            if queued is not None:
                return queued
        future: asyncio.Future[Any] = await producer.send(
            message.topic, message.value, key=message.key, headers=list(message.headers) or None
        )
        if message.event_id is not None:
            name = (message.topic, message.event_id)
            self._inflight[name] = future
            future.add_done_callback(functools.partial(self._settle, name))
        return future

    def _settle(self, name: tuple[str, str], future: asyncio.Future[Any]) -> None:
        if self._inflight.get(name) is future:
            del self._inflight[name]

    async def consumer(self, topics: Sequence[str], *, group: str) -> KafkaConsumer:
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=self._group_prefix + group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            max_poll_interval_ms=300_000,
        )
        await consumer.start()
        return KafkaConsumer(consumer)


class KafkaConsumer:
    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    async def poll(self, *, max_records: int, timeout_s: float) -> list[Record]:
        batches = await self._consumer.getmany(
            timeout_ms=int(timeout_s * 1000), max_records=max_records
        )
        out: list[Record] = []
        for tp, messages in batches.items():
            for m in messages:
                out.append(
                    Record(
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=m.offset,
                        key=m.key,
                        value=m.value,
                        headers=tuple(m.headers or ()),
                        timestamp_ms=m.timestamp,
                    )
                )
        return out

    async def commit(self, records: Sequence[Record]) -> None:
        offsets = {
            TopicPartition(topic, partition): offset
            for (topic, partition), offset in commit_positions(records).items()
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError):
            # The group rebalanced while we worked (the partitions may already be gone from
            # our assignment): another member will get these records again. Our output is
            # already acknowledged and idempotent downstream.
            log.warning("commit failed after a rebalance; records will be redelivered")

    async def offsets(self) -> list[PartitionOffsets]:
        assigned = sorted(self._consumer.assignment())
        committed = {tp: await self._consumer.committed(tp) for tp in assigned}
        return await self._offsets(assigned, committed)

    async def topic_offsets(self, topics: Sequence[str]) -> list[PartitionOffsets]:
        cluster = await self._metadata_of(topics)
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(cluster.partitions_for_topic(topic) or ())
        ]
        return await self._offsets(partitions, {})

    async def _metadata_of(self, topics: Sequence[str]) -> ClusterMetadata:
        """These topics' metadata (the consumer's covers only what it subscribed to). Not
        the whole cluster's: on a broker of a thousand topics that is tens of milliseconds of
        CPU at every scrape. A topic that does not exist is not created by asking."""
        request = MetadataRequest(list(topics), allow_auto_topic_creation=False)
        cluster = ClusterMetadata()
        cluster.update_metadata(await ask_a_broker(self._consumer._client, request))
        return cluster

    async def _offsets(
        self, partitions: list[Any], committed: dict[Any, int | None]
    ) -> list[PartitionOffsets]:
        if not partitions:
            return []
        beginning = await self._consumer.beginning_offsets(partitions)
        end = await self._consumer.end_offsets(partitions)
        return [
            PartitionOffsets(tp.topic, tp.partition, beginning[tp], end[tp], committed.get(tp))
            for tp in partitions
        ]

    async def close(self) -> None:
        await self._consumer.stop()


def _all_acked(
    futures: Sequence[asyncio.Future[Any]], on_acked: Acked | None
) -> asyncio.Future[None]:
    """One future for a publish's messages: done when all are acknowledged, or failed with
    the first failure. ``on_acked`` runs once all are acknowledged, even if nobody waits for
    the returned future any more (it timed out or was cancelled).

    Lighter than ``wait_for(shield(gather(...)))``, which builds three futures and a task's
    worth of callbacks for every webhook.
    """
    acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    remaining = len(futures)

    def settle(future: asyncio.Future[Any]) -> None:
        nonlocal remaining
        failure = (
            KafkaError("the producer dropped the message")
            if future.cancelled()
            else future.exception()  # retrieving it also silences "never retrieved"
        )
        if failure is not None:
            log.debug("queued message failed: %r", failure)
            if not acked.done():
                acked.set_exception(failure)
            return
        remaining -= 1
        if remaining == 0:
            if on_acked is not None:
                on_acked()
            if not acked.done():
                acked.set_result(None)

    for future in futures:
        future.add_done_callback(settle)
    return acked


def _expire(acked: asyncio.Future[None]) -> None:
    if not acked.done():
        acked.set_exception(TimeoutError())


async def ask_a_broker(client: Any, request: MetadataRequest) -> Any:
    """The first answer to ``request`` from the client's known brokers, asked in turn; each
    has ``ASK_TIMEOUT_S``. Raises the last failure when none answers."""
    error: Exception = KafkaError("no broker known")
    for broker in client.cluster.brokers():
        try:
            return await asyncio.wait_for(client.send(broker.nodeId, request), ASK_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            error = exc
    raise error


async def topic_partitions(bootstrap: str, topics: Sequence[str]) -> dict[str, list[int]]:
    """The partitions of each existing topic among ``topics`` (absent topics are left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigie-metadata")
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {
        t["topic"]: sorted(p["partition"] for p in t["partitions"])
        for t in described
        if t.get("error_code", 0) == 0 and t["partitions"]
    }
