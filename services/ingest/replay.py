"""``vigie replay``: re-normalise archived webhooks, e.g. after a parser fix.

Every verified request is archived on ``vigie.comments.raw.v1`` with its headers and exact
body. Replay reads the archive from a point in time up to its end as of the start, parses
each request again with today's adapters, and publishes the comments that were never
published before (``force`` republishes all; the pipeline is idempotent by event id).
Signatures are not checked again: they were checked when the request was archived.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from services.classifier.screen import comment_topic
from services.ingest.adapters.base import (
    Adapter,
    Context,
    InboundRequest,
    Parsed,
    PayloadError,
)
from services.ingest.adapters.registry import build_adapters
from services.ingest.api import fresh_events
from services.ingest.dedup import SeenStore
from services.ingest.settings import IngestSettings
from shared.bus import Bus, BusUnavailable, Message
from shared.bus.kafka import KafkaBus, topic_partitions
from shared.codec import to_message
from shared.events import Comment, RawWebhook, SourceChanged
from shared.runtime import utc_now
from shared.storage.engine import create_engine
from shared.topics import COMMENTS_RAW, SOURCE_CHANGES

log = logging.getLogger(__name__)

PUBLISH_BATCH = 500


class ReplayError(Exception):
    """Replay cannot run; the message says why."""


def renormalise(raw: RawWebhook, adapters: Mapping[str, Adapter]) -> Parsed:
    """Parse an archived request again; ``PayloadError`` if it still cannot be read."""
    adapter = adapters.get(raw.platform)
    if adapter is None:
        raise PayloadError(f"no adapter for platform {raw.platform!r}")
    try:
        body = base64.b64decode(raw.body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PayloadError("archived body is not base64") from exc
    request = InboundRequest(body=body, headers=raw.headers, path_params=raw.path_params)
    context = Context(
        received_at=raw.occurred_at, delivery_id=raw.delivery_id, trace_id=raw.trace_id
    )
    return adapter.parse(request, context)


@dataclass
class ReplayReport:
    requests: int = 0
    skipped: int = 0
    unreadable: int = 0
    comments: int = 0
    duplicates: int = 0
    published: int = 0
    changes: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "skipped": self.skipped,
            "unreadable": self.unreadable,
            "comments": self.comments,
            "duplicates": self.duplicates,
            "published": self.published,
            "changes": self.changes,
        }


Progress = Callable[[int, int], None]


async def read_archive(
    bootstrap: str, *, since: datetime | None, progress: Progress | None = None
) -> list[tuple[int, bytes]]:
    """Archived records from ``since`` (or the beginning) to the end as of now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = (await topic_partitions(bootstrap, [COMMENTS_RAW])).get(COMMENTS_RAW)
        if not partitions:
            raise ReplayError(f"topic {COMMENTS_RAW} does not exist on {bootstrap}")
        tps = [TopicPartition(COMMENTS_RAW, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        if since is not None:
            found = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in tps}
            )
            starts = {tp: (found[tp].offset if found[tp] else ends[tp]) for tp in tps}
        for tp in tps:
            consumer.seek(tp, starts[tp])
        total = sum(ends[tp] - starts[tp] for tp in tps)
        records: list[tuple[int, bytes]] = []
        remaining = {tp for tp in tps if starts[tp] < ends[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=1000)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset < ends[tp] and message.value is not None:
                        records.append((message.timestamp, message.value))
                if messages and messages[-1].offset >= ends[tp] - 1:
                    remaining.discard(tp)
            if progress is not None:
                progress(len(records), total)
        return records
    finally:
        await consumer.stop()


async def replay(
    records: Sequence[bytes],
    *,
    adapters: Mapping[str, Adapter],
    bus: Bus,
    seen: SeenStore | None,
    platforms: set[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ReplayReport:
    """Re-normalise ``records`` (archived ``RawWebhook`` JSON) and publish what is new.

    ``seen`` of None republishes every comment (``--force``).
    """
    report = ReplayReport()
    pending: list[Comment | SourceChanged] = []

    async def flush() -> None:
        comments = [c for c in pending if isinstance(c, Comment)]
        changes = [c for c in pending if isinstance(c, SourceChanged)]
        pending.clear()
        ids = [e.event_id for e in (*comments, *changes)]
        already = await seen.seen(ids) if seen else set()
        fresh = fresh_events(comments, already)
        changes = fresh_events(changes, already)
        report.duplicates += len(comments) - len(fresh)
        report.published += len(fresh)
        report.changes += len(changes)
        if dry_run:
            return
        messages: list[Message] = [
            to_message(comment_topic(c), c, key=c.partition_key) for c in fresh
        ]
        messages += [
            to_message(SOURCE_CHANGES, c, key=f"{c.platform}:{c.item_id}") for c in changes
        ]
        await bus.publish(messages)
        if seen is not None:
            seen.remember([(c.event_id, c.platform) for c in fresh])
            seen.remember([(c.event_id, c.platform) for c in changes])

    for index, value in enumerate(records, start=1):
        report.requests += 1
        try:
            raw = RawWebhook.model_validate_json(value)
        except ValidationError:
            report.unreadable += 1
            continue
        if platforms and raw.platform not in platforms:
            report.skipped += 1
            continue
        try:
            parsed = renormalise(raw, adapters)
        except PayloadError as exc:
            report.unreadable += 1
            log.info("archived request still unreadable: %s", exc.reason)
            continue
        except Exception:
            report.unreadable += 1
            log.exception("adapter failed on an archived request")
            continue
        report.comments += len(parsed.comments)
        pending.extend(parsed.comments)
        pending.extend(parsed.changes)
        if len(pending) >= PUBLISH_BATCH:
            await flush()
        if progress is not None:
            progress(index, len(records))
    await flush()
    return report


async def run_replay(
    settings: IngestSettings,
    *,
    since: datetime | None,
    platforms: set[str] | None,
    dry_run: bool,
    force: bool,
    progress: Callable[[str, int, int], None] | None = None,
) -> ReplayReport:
    """Replay against the configured broker and database (the ``vigie replay`` command)."""
    adapters = {a.platform: a for a in build_adapters(settings)}
    unknown = (platforms or set()) - set(adapters)
    if unknown:
        raise ReplayError(
            f"unknown platform(s) {', '.join(sorted(unknown))}; known: {', '.join(adapters)}"
        )

    def reading(done: int, total: int) -> None:
        if progress is not None:
            progress("read", done, total)

    def parsing(done: int, total: int) -> None:
        if progress is not None:
            progress("replayed", done, total)

    try:
        records = await read_archive(settings.kafka_bootstrap, since=since, progress=reading)
    except KafkaError as exc:
        raise ReplayError(f"cannot read the archive: {exc}") from exc
    bus = KafkaBus(settings.kafka_bootstrap, client_id="vigie-replay")
    engine = create_engine(settings.database_url)
    seen = None if force else SeenStore(engine, utc_now)
    try:
        await bus.start()
        report = await replay(
            [value for _, value in records],
            adapters=adapters,
            bus=bus,
            seen=seen,
            platforms=platforms,
            dry_run=dry_run,
            progress=parsing,
        )
        if seen is not None:
            await seen.flush()
        return report
    except (KafkaError, BusUnavailable) as exc:
        raise ReplayError(f"broker unavailable: {exc}") from exc
    except (SQLAlchemyError, OSError) as exc:
        raise ReplayError(f"database unavailable: {exc}") from exc
    finally:
        if seen is not None:
            await seen.stop()
        await bus.stop()
        await engine.dispose()
