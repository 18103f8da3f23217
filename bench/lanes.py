"""The router alone: how long a crisis verdict takes to become a page while routine verdicts
keep the router busy, and the router's CPU per verdict.

One router process (both lanes) runs on the real broker and a fresh PostgreSQL database.
This process publishes ``BENCH_ROUTINE_PER_S`` routine verdicts a second (default 1000: a
mix of abuse, questions, praise and neutral comments, in bursts every 10 ms) onto the
classified topic, and ``BENCH_CRISIS_PER_S`` crisis verdicts (default 4) onto the priority
topic, for ``BENCH_SECONDS`` (default 20). A crisis's latency runs from the moment its
verdict is handed to the producer to the moment its page is read back from the critical
actions topic: the router's part of the crisis path (consume, route, commit, publish).
Run with the services' env sourced: ``.venv/bin/python -m bench.router``; writes
``bench/results/<utc time>-router.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.pipeline import skip_backlog
from bench.stats import percentile
from shared.bus import Message
from shared.bus.kafka import KafkaBus, topic_partitions
from shared.codec import to_message
from shared.events import Action, ClassifiedComment, Label, Severity
from shared.topics import ACTIONS_CRITICAL, CLASSIFIED_PRIORITY, COMMENTS_CLASSIFIED
from tests.databases import create_database, drop_database
from tests.unit import factories as f
from vigie.stack import ServiceProcess

ROOT = Path(__file__).resolve().parents[1]
PORT = 18282
BURST_S = 0.01
TARGET_P99_MS = 250.0  # the whole crisis path's target; the router is one part of it


def routine_verdict(run: str, n: int) -> ClassifiedComment:
    """One of abuse (grouped by post), a question (by thread), praise, or nothing to do."""
    kind = n % 4
    item = f.comment(
        f"forum:{run}-r{n}",
        author_id=f"{run}-a{n % 500}",
        post_id=f"{run}-p{n % 50}",
        thread_id=f"{run}-t{n % 200}",
        at=datetime.now(UTC),
    )
    if kind == 0:
        verdict = f.classification(Label.ABUSIVE, severity=Severity.MEDIUM, categories=("insult",))
    elif kind == 1:
        verdict = f.classification(Label.QUESTION, severity=Severity.LOW)
    elif kind == 2:
        verdict = f.classification(Label.PRAISE)
    else:
        verdict = f.classification()
    return f.classified(item, verdict)


def crisis_verdict(run: str, n: int) -> ClassifiedComment:
    return f.sensitive(
        f.comment(
            f"forum:{run}-c{n}",
            author_id=f"{run}-crisis-{n}",
            trace_id=uuid.uuid4().hex,
            at=datetime.now(UTC),
        )
    )


def message(topic: str, item: ClassifiedComment) -> Message:
    return to_message(topic, item, key=item.comment.partition_key)


async def pages_read(
    bootstrap: str, sent: dict[str, float], read: dict[str, float], stop: asyncio.Event
) -> None:
    """Record when each crisis's page (by trace id) is first read from the critical topic."""
    partitions = await topic_partitions(bootstrap, [ACTIONS_CRITICAL])
    assigned = [TopicPartition(ACTIONS_CRITICAL, p) for p in partitions.get(ACTIONS_CRITICAL, [])]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(assigned)
        for tp, offset in (await consumer.end_offsets(assigned)).items():
            consumer.seek(tp, offset)
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    assert record.value is not None
                    action = Action.model_validate_json(record.value)
                    if action.trace_id in sent:
                        read.setdefault(action.trace_id, now)
    finally:
        await consumer.stop()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def offer(
    bus: KafkaBus,
    run: str,
    seconds: float,
    routine_per_s: float,
    crisis_per_s: float,
    sent: dict[str, float],
) -> int:
    """Publish the load, noting in ``sent`` when each crisis was sent, by trace id; the
    number of routine verdicts sent."""
    start = time.perf_counter()
    routine = crises = 0
    pending: set[asyncio.Task[None]] = set()
    while (elapsed := time.perf_counter() - start) < seconds:
        due_routine = int(elapsed * routine_per_s) - routine
        if due_routine > 0:
            batch = [
                message(COMMENTS_CLASSIFIED, routine_verdict(run, routine + i))
                for i in range(due_routine)
            ]
            routine += due_routine
            task = asyncio.create_task(bus.publish(batch))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if int(elapsed * crisis_per_s) >= crises:
            item = crisis_verdict(run, crises)
            crises += 1
            sent[item.trace_id] = time.perf_counter()
            task = asyncio.create_task(bus.publish([message(CLASSIFIED_PRIORITY, item)]))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.sleep(BURST_S)
    await asyncio.gather(*pending)
    return routine


async def main() -> dict[str, Any]:
    bootstrap = os.environ["VIGIE_KAFKA_BOOTSTRAP"]
    server = os.environ["VIGIE_DATABASE_URL"]
    seconds = float(os.environ.get("BENCH_SECONDS", "20"))
    routine_per_s = float(os.environ.get("BENCH_ROUTINE_PER_S", "1000"))
    crisis_per_s = float(os.environ.get("BENCH_CRISIS_PER_S", "4"))
    run = uuid.uuid4().hex[:8]
    prefix = f"bench-{run}-"
    database = await create_database(server, prefix="vigie_bench_router")
    bus = KafkaBus(bootstrap, client_id="vigie-bench-router")
    router = ServiceProcess(
        "router",
        PORT,
        {
            "VIGIE_KAFKA_BOOTSTRAP": bootstrap,
            "VIGIE_DATABASE_URL": database,
            "VIGIE_KAFKA_GROUP_PREFIX": prefix,
            "VIGIE_ACK_TOKEN_SECRET": uuid.uuid4().hex,
            "VIGIE_LOG_LEVEL": "WARNING",
            "VIGIE_MIGRATE_ON_START": "true",
        },
        ROOT / ".local" / "logs" / "bench" / "router-alone.log",
    )
    try:
        await bus.start()
        await bus.ensure_topics([COMMENTS_CLASSIFIED, CLASSIFIED_PRIORITY, ACTIONS_CRITICAL])
        await skip_backlog(bootstrap, prefix)
        router.start()
        await asyncio.to_thread(router.wait_ready, 90.0)
        assert router.process is not None
        read: dict[str, float] = {}
        # Warm-up (not counted): the first statements, the first pages, the lanes' fetches.
        await offer(bus, f"{run}w", 2.0, 100, 2, {})
        await asyncio.sleep(3.0)
        stop = asyncio.Event()
        sent: dict[str, float] = {}
        reader = asyncio.create_task(pages_read(bootstrap, sent, read, stop))
        await asyncio.sleep(1.0)  # the reader is at the end of the topic
        cpu_before = cpu_seconds(router.process.pid)
        print(
            f"router: {routine_per_s:.0f} routine + {crisis_per_s:.0f} crisis verdicts/s "
            f"for {seconds:.0f} s ...",
            flush=True,
        )
        routine = await offer(bus, run, seconds, routine_per_s, crisis_per_s, sent)
        deadline = time.perf_counter() + 60
        while len(read) < len(sent) and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        cpu = cpu_seconds(router.process.pid) - cpu_before
        stop.set()
        await reader
        latencies = sorted((read[t] - sent[t]) * 1000 for t in sent if t in read)
        return {
            "bench": "router",
            "at": datetime.now(UTC).isoformat(),
            "machine": platform.node(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "routine_per_s": routine_per_s,
            "routine_offered": routine,
            "crises": len(sent),
            "paged": len(latencies),
            "crisis_p50_ms": round(percentile(latencies, 0.5), 1) if latencies else None,
            "crisis_p90_ms": round(percentile(latencies, 0.9), 1) if latencies else None,
            "crisis_p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
            "crisis_max_ms": round(latencies[-1], 1) if latencies else None,
            "router_cpu_ms_per_verdict": round(cpu * 1000 / max(routine + len(sent), 1), 3),
        }
    finally:
        router.stop()
        await bus.stop()
        await drop_database(server, database)


def run() -> None:
    result = uvloop.run(main())
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S%z")
    (out / f"{stamp}-router.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    run()
