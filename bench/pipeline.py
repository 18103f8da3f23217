"""``make bench``: webhook-to-delivery through the four services, next to a raw Kafka
pass-through measured on the same broker in the same run.

Prints a table and writes ``bench/results/<utc time>.json`` so that runs can be compared.
Sizes: ``BENCH_COMMENTS`` (default 500) and ``BENCH_RAW_MESSAGES`` (default 5000).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import platform
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.stats import percentile
from shared.bus.kafka import KafkaBus
from tests.databases import create_database, drop_database
from tests.peers import recording_server
from vigie.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
PORTS = {"ingest": 18281, "router": 18282, "classifier": 18283, "notifier": 18284}


def progress(label: str, done: int, total: int) -> None:
    print(f"\r  {label}: {done}/{total}   ", end="" if done < total else "\n", flush=True)


async def raw_passthrough(bootstrap: str, count: int) -> dict[str, float]:
    """produce -> consume+produce (one hop, like a stage) -> consume, acks=all."""
    run = uuid.uuid4().hex[:8]
    source, sink = f"vigie.bench.in.{run}", f"vigie.bench.out.{run}"
    await KafkaBus(bootstrap, client_id="vigie-bench").ensure_topics([source, sink])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    hop = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-hop-{run}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    end = AIOKafkaConsumer(
        sink,
        bootstrap_servers=bootstrap,
        group_id=f"bench-end-{run}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await hop.start()
    await end.start()
    latencies: list[float] = []

    async def forward() -> None:
        moved = 0
        while moved < count:
            batches = await hop.getmany(timeout_ms=500, max_records=500)
            for messages in batches.values():
                futures = [await producer.send(sink, m.value, key=m.key) for m in messages]
                await asyncio.gather(*futures)
                moved += len(messages)
            if batches:
                await hop.commit()

    async def collect() -> None:
        while len(latencies) < count:
            batches = await end.getmany(timeout_ms=500, max_records=1000)
            now = time.perf_counter()
            for messages in batches.values():
                latencies.extend(now - float(m.value.decode()) for m in messages)

    started = time.perf_counter()
    tasks = [asyncio.create_task(forward()), asyncio.create_task(collect())]
    for i in range(count):
        await producer.send(source, str(time.perf_counter()).encode(), key=str(i % 64).encode())
    await producer.flush()
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    elapsed = time.perf_counter() - started
    for client in (hop, end):
        await client.stop()
    await producer.stop()
    return {
        "messages": count,
        "throughput_per_s": count / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def pipeline(bootstrap: str, database_server: str, count: int) -> dict[str, float]:
    secret, signing = uuid.uuid4().hex, uuid.uuid4().hex
    database = await create_database(database_server, prefix="vigie_bench")
    try:
        return await _measure(bootstrap, database, count, secret, signing)
    finally:
        await drop_database(database_server, database)


async def _measure(
    bootstrap: str, database: str, count: int, secret: str, signing: str
) -> dict[str, float]:
    with recording_server() as receiver, tempfile.TemporaryDirectory() as workdir:
        policy = yaml.safe_load((ROOT / "config" / "policy.yaml").read_text())
        for entry in policy["receivers"]:
            entry["url"] = f"{receiver.url}/{entry['name']}"
        policy_file = Path(workdir) / "policy.yaml"
        policy_file.write_text(yaml.safe_dump(policy))
        # The policy names its resource directory relative to itself.
        (policy_file.parent / "resources.yaml").write_text(
            (ROOT / "config" / "resources.yaml").read_text()
        )
        env = {
            "VIGIE_KAFKA_BOOTSTRAP": bootstrap,
            "VIGIE_DATABASE_URL": database,
            "VIGIE_POLICY_FILE": str(policy_file),
            "VIGIE_GENERIC_WEBHOOK_SECRET": secret,
            "VIGIE_WEBHOOK_SIGNING_SECRET": signing,
            "VIGIE_LOG_LEVEL": "WARNING",
        }
        stack = Stack(env, log_dir=ROOT / ".local" / "logs" / "bench", ports=PORTS)
        stack.start(timeout_s=120)
        try:
            sent_at: dict[str, float] = {}
            ack_ms: list[float] = []
            limit = asyncio.Semaphore(16)
            url = f"http://127.0.0.1:{PORTS['ingest']}/webhooks/generic/bench"

            async def send(client: httpx.AsyncClient, i: int) -> None:
                body = json.dumps(
                    {
                        "id": f"{i}-{uuid.uuid4().hex}",
                        "text": "I want to end my life",
                        "author": {"id": uuid.uuid4().hex},
                        "post_id": "bench",
                    }
                ).encode()
                digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                headers = {
                    "content-type": "application/json",
                    "x-vigie-signature": f"sha256={digest}",
                }
                async with limit:
                    started = time.perf_counter()
                    response = await client.post(url, content=body, headers=headers)
                    ack_ms.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                sent_at[response.json()["trace_id"]] = started

            started = time.perf_counter()
            async with httpx.AsyncClient(timeout=30) as client:
                pending = [asyncio.create_task(send(client, i)) for i in range(count)]
                for done, task in enumerate(asyncio.as_completed(pending), 1):
                    await task
                    if done % 50 == 0 or done == count:
                        progress("webhooks accepted", done, count)
            deadline = time.monotonic() + 300
            while len(receiver.received()) < count and time.monotonic() < deadline:
                progress("deliveries", len(receiver.received()), count)
                await asyncio.sleep(0.5)
            received = receiver.received()
            progress("deliveries", len(received), count)
            elapsed = time.perf_counter() - started
        finally:
            stack.stop()
    latencies = [
        (r.at - sent_at[r.json()["trace_id"]]) * 1000
        for r in received
        if r.json()["trace_id"] in sent_at
    ]
    return {
        "comments": count,
        "delivered": len(received),
        "throughput_per_s": len(received) / elapsed,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "ingest_ack_p50_ms": percentile(ack_ms, 0.5),
        "ingest_ack_p99_ms": percentile(ack_ms, 0.99),
    }


async def main() -> None:
    bootstrap = os.environ["VIGIE_KAFKA_BOOTSTRAP"]
    database = os.environ["VIGIE_DATABASE_URL"]
    comments = int(os.environ.get("BENCH_COMMENTS", "500"))
    raw_count = int(os.environ.get("BENCH_RAW_MESSAGES", "5000"))
    print(f"raw aiokafka pass-through, {raw_count} messages ...", flush=True)
    raw = await raw_passthrough(bootstrap, raw_count)
    print(f"pipeline, {comments} crisis comments through four processes ...", flush=True)
    stack = await pipeline(bootstrap, database, comments)
    result: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "raw_kafka_passthrough": raw,
        "pipeline_webhook_to_delivery": stack,
    }
    print()
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'raw Kafka pass-through throughput (msg/s)':<44}{raw['throughput_per_s']:>12.0f}")
    print(
        f"{'raw Kafka pass-through p50 / p99 (ms)':<44}{raw['p50_ms']:>5.1f} / {raw['p99_ms']:.1f}"
    )
    print(f"{'pipeline throughput (comments/s)':<44}{stack['throughput_per_s']:>12.1f}")
    print(
        f"{'pipeline webhook->delivery p50 / p99 (ms)':<44}"
        f"{stack['p50_ms']:>5.1f} / {stack['p99_ms']:.1f}"
    )
    print(
        f"{'ingest webhook->ack p50 / p99 (ms)':<44}"
        f"{stack['ingest_ack_p50_ms']:>5.1f} / {stack['ingest_ack_p99_ms']:.1f}"
    )
    print(f"{'delivered / sent':<44}{stack['delivered']:>7} / {stack['comments']}")
    out = ROOT / "bench" / "results" / f"{result['at'].replace(':', '')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
