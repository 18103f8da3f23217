"""``make bench`` (ingest part): signed webhooks per second and webhook-to-ack latency.

The ingest service runs as its own process on the real Kafka and a throw-away PostgreSQL
database; every webhook is a new comment, so each one is verified, checked against the
de-duplication table, archived and published with acks=all before it is answered. The
database first gets ``BENCH_SEEN_ROWS`` (100,000) older de-duplication keys and its
statistics, as a database in service has them.

Open loops at each of ``BENCH_RATES`` webhooks/s (default 500 and 1000: the latency at
that load), then a closed loop (``BENCH_CONNECTIONS`` keep-alive connections sending as fast
as answers come: the ceiling), ``BENCH_WEBHOOKS`` webhooks each. The client is a minimal
keep-alive HTTP/1.1 writer so that it costs the shared CPUs as little as possible. Writes
``bench/results/<utc time>-ingest.json``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import platform
import secrets
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from bench.machine_cpu import cpu_seconds
from bench.stats import percentile
from tests.databases import analyze, asyncpg_dsn, create_database, drop_database
from vigie.stack import ServiceProcess

ROOT = Path(__file__).resolve().parents[1]
PORT = 18291
PATH = "/webhooks/generic/bench"


def request(secret: bytes, i: int) -> bytes:
    body = json.dumps(
        {
            "id": f"{i}-{uuid.uuid4().hex}",
            "text": "Je ne sais plus quoi faire, j'ai besoin d'aide",
            "author": {"id": uuid.uuid4().hex, "name": "Bench"},
            "post_id": f"p-{i % 50}",
        }
    ).encode()
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    head = (
        f"POST {PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"x-vigie-signature: {signature}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


class Connection:
    def __init__(self, port: int = PORT) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def send(self, payload: bytes) -> tuple[int, float]:
        assert self.reader is not None and self.writer is not None
        started = time.perf_counter()
        self.writer.write(payload)
        status = await read_response(self.reader)
        return status, (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def closed_loop(
    payloads: list[bytes], connections: int, *, port: int = PORT
) -> dict[str, Any]:
    queue = list(reversed(payloads))
    latencies: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        conn = Connection(port)
        await conn.open()
        try:
            while queue:
                status, ms = await conn.send(queue.pop())
                latencies.append(ms)
                failures += status >= 300
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return summary(latencies, failures, elapsed)


async def open_loop(
    payloads: list[bytes], rate: float, connections: int, *, port: int = PORT
) -> dict[str, Any]:
    """Each connection sends on a fixed schedule; a late answer delays its next send, and
    that lateness counts in the latency (measured from the scheduled time)."""
    latencies: list[float] = []
    failures = 0
    per_connection = [payloads[i::connections] for i in range(connections)]
    interval = connections / rate

    async def worker(items: list[bytes], offset: float, start: float) -> None:
        nonlocal failures
        conn = Connection(port)
        await conn.open()
        try:
            for n, payload in enumerate(items):
                due = start + offset + n * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                status, ms = await conn.send(payload)
                late = max(0.0, time.perf_counter() - due) * 1000
                latencies.append(max(ms, late))
                failures += status >= 300
        finally:
            await conn.close()

    start = time.perf_counter() + 0.2
    await asyncio.gather(
        *(
            worker(items, i * interval / connections, start)
            for i, items in enumerate(per_connection)
        )
    )
    return summary(latencies, failures, time.perf_counter() - start)


def load_average() -> str:
    """The machine's 1/5/15-minute load: latencies on shared cores mean little without it."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def summary(latencies: list[float], failures: int, elapsed: float) -> dict[str, Any]:
    return {
        "webhooks": len(latencies),
        "failures": failures,
        "seconds": round(elapsed, 2),
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies, default=float("nan")), 2),
    }


async def in_service(database: str, seen_rows: int) -> None:
    """Make the run's new database look like one in service: the de-duplication keys of the
    retention window (``seen_rows`` of them, from earlier days) and the planner's statistics
    (without them the lookup is planned as a sequential scan, and stays so as the table
    grows)."""
    conn = await asyncpg.connect(asyncpg_dsn(database))
    try:
        await conn.execute(
            "INSERT INTO ingest_seen (event_id, platform, seen_at)"
            " SELECT gen_random_uuid()::text, 'generic', now() - interval '1 day'"
            " FROM generate_series(1, $1)",
            seen_rows,
        )
    finally:
        await conn.close()
    await analyze(database)


async def main() -> None:
    bootstrap = os.environ["VIGIE_KAFKA_BOOTSTRAP"]
    server = os.environ["VIGIE_DATABASE_URL"]
    count = int(os.environ.get("BENCH_WEBHOOKS", "8000"))
    rates = sorted(float(r) for r in os.environ.get("BENCH_RATES", "500,1000").split(","))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "32"))
    secret = secrets.token_hex(16)
    database = await create_database(server, prefix="vigie_bench_ingest")
    service = ServiceProcess(
        name="ingest",
        port=PORT,
        env={
            "VIGIE_KAFKA_BOOTSTRAP": bootstrap,
            "VIGIE_DATABASE_URL": database,
            "VIGIE_GENERIC_WEBHOOK_SECRET": secret,
            "VIGIE_LOG_LEVEL": "WARNING",
        },
        log_path=ROOT / ".local" / "logs" / "bench" / "ingest-bench.log",
    )
    await in_service(database, int(os.environ.get("BENCH_SEEN_ROWS", "100000")))
    service.start()
    paced: list[dict[str, Any]] = []
    sent = 0
    try:
        service.wait_ready(90)
        key = secret.encode()
        print("warming up ...", flush=True)
        await closed_loop([request(key, -i - 1) for i in range(500)], 8)
        assert service.process is not None
        # Paced loads first, lightest first, so that each starts from a service that is not
        # still catching up with a saturating phase; the ceiling comes last.
        for rate in rates:
            print(f"open loop: {count} webhooks at {rate:.0f}/s ...", flush=True)
            payloads = [request(key, sent + i) for i in range(count)]
            sent += count
            cpu_before = cpu_seconds(service.process.pid)
            loop = await open_loop(payloads, rate, connections)
            cpu_ms = (cpu_seconds(service.process.pid) - cpu_before) * 1000 / count
            paced.append(
                {
                    "offered_per_s": rate,
                    **loop,
                    "ingest_cpu_ms_per_webhook": round(cpu_ms, 3),
                    "load_average": load_average(),
                }
            )
        print(f"closed loop: {count} webhooks on {connections} connections ...", flush=True)
        cpu_before = cpu_seconds(service.process.pid)
        ceiling = await closed_loop([request(key, sent + i) for i in range(count)], connections)
        # CPU per webhook is the figure that noisy neighbours on a shared machine disturb least.
        cpu_ms = (cpu_seconds(service.process.pid) - cpu_before) * 1000 / count
        ceiling["ingest_cpu_ms_per_webhook"] = round(cpu_ms, 3)
        ceiling["load_average"] = load_average()
    finally:
        service.stop()
        await drop_database(server, database)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    result: dict[str, Any] = {
        "at": at,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "target": {"throughput_per_s": 1000, "p99_ms": 15},
        "open_loops": paced,
        "closed_loop": ceiling,
    }
    print()
    print(f"{'ingest measure':<46}{'value':>14}")
    for loop in paced:
        label = f"at {loop['offered_per_s']:.0f}/s offered, p50 / p99 ack (ms)"
        print(f"{label:<46}{loop['p50_ms']:>6.1f} / {loop['p99_ms']:.1f}")
        print(f"{'  achieved (webhooks/s)':<46}{loop['throughput_per_s']:>14.0f}")
        print(f"{'  ingest CPU per webhook (ms)':<46}{loop['ingest_cpu_ms_per_webhook']:>14.3f}")
        print(f"{'  load average after (1/5/15 min)':<46}{loop['load_average']:>14}")
    print(f"{'max throughput (signed webhooks/s)':<46}{ceiling['throughput_per_s']:>14.0f}")
    print(
        f"{'  at that load, p50 / p99 ack (ms)':<46}"
        f"{ceiling['p50_ms']:>6.1f} / {ceiling['p99_ms']:.1f}"
    )
    print(
        f"{'ingest process CPU per webhook (ms)':<46}{ceiling['ingest_cpu_ms_per_webhook']:>14.3f}"
    )
    print(f"{'  load average after (1/5/15 min)':<46}{ceiling['load_average']:>14}")
    failures = ceiling["failures"] + sum(loop["failures"] for loop in paced)
    print(f"{'non-2xx answers':<46}{failures:>14}")
    out = ROOT / "bench" / "results" / f"{at.replace(':', '')}-ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    # The client on uvloop too: it shares the two cores with the service, the broker and the
    # database, and the less CPU it takes, the less it disturbs what it measures.
    uvloop.run(main())
