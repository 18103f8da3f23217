"""The notifier alone: webhook deliveries per second and action-to-send latency.

Offers ``BENCH_RATE`` actions a second (default 500) for ``BENCH_SECONDS`` (default 5) to
one notifier on the real broker and a fresh PostgreSQL database, delivering signed webhooks
to a loopback receiver. The producer (``bench.action_producer``) and the receiver
(``bench.webhook_sink``) run as processes of their own. Latency runs from the moment an
action is handed to the producer to the moment the receiver has read the request (wall
clock, one machine). ``notifier_cpu_ms_per_action`` is the CPU time of this process (the
notifier alone, once started) per action offered: a figure less at the mercy of other work on
the machine than latency. Run with the services' env sourced:
``.venv/bin/python -m bench.notifier``; writes ``bench/results/<utc time>-notifier.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bench.stats import percentile
from services.notifier.settings import NotifierSettings
from services.notifier.worker import NotifierComponent
from shared.bus.kafka import KafkaBus
from shared.runtime import Runtime
from shared.storage.engine import create_engine
from shared.storage.migrate import upgrade_async
from tests.databases import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 50.0
SINK_PORT = 18295


def read_times(path: Path) -> dict[str, float]:
    """``<key>\t<unix seconds>`` lines; the first time of a key counts."""
    times: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, at = line.partition("\t")
            times.setdefault(key, float(at))
    return times


def start_process(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_line(log: Path, text: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{log} never said {text!r}")


async def delivered(registry: CollectorRegistry) -> float:
    return sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "vigie_notifier_deliveries"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("outcome") == "delivered"
    )


async def run(bootstrap: str, database_url: str, rate: int, seconds: float) -> dict[str, Any]:
    """The notifier in this process; the producer and the receiver each in their own, so that
    neither one's work is counted against the notifier (two CPUs are shared by all)."""
    tag = uuid.uuid4().hex[:8]

    class Isolated(NotifierComponent):
        group = f"vigie-bench-notifier-{tag}"
        source = f"vigie.bench.{tag}.actions"
        outputs = (f"vigie.bench.{tag}.results",)

    work = Path(tempfile.mkdtemp(prefix="vigie-bench-notifier-"))
    sink_log, producer_log = work / "sink.log", work / "producer.log"
    arrivals_file, produced_file = work / "arrivals.tsv", work / "produced.tsv"
    sink = start_process(
        ["bench.webhook_sink", "--port", str(SINK_PORT), "--out", str(arrivals_file)], sink_log
    )
    bus = KafkaBus(bootstrap, client_id="vigie-bench-notifier", partitions=3)
    await bus.start()
    engine = create_engine(database_url)
    registry = CollectorRegistry()
    total = int(rate * seconds)
    settings = NotifierSettings(
        webhook_signing_secret=SecretStr("bench-signing-secret"),
        receiver_rate_per_s=100_000.0,  # one receiver takes the whole load here
        receiver_burst=100_000.0,
        channel_rates_per_s={"webhook": 100_000.0},
    )
    component = Isolated(settings)
    try:
        wait_for_line(sink_log, "ready")
        await bus.ensure_topics([Isolated.source])
        await component.start(Runtime(bus=bus, engine=engine, registry=registry))
        cpu_started = time.process_time()
        producer = start_process(
            [
                "bench.action_producer",
                "--bootstrap", bootstrap,
                "--topic", Isolated.source,
                "--url", f"http://127.0.0.1:{SINK_PORT}/webhook/bench",
                "--rate", str(rate),
                "--seconds", str(seconds),
                "--out", str(produced_file),
            ],
            producer_log,
        )  # fmt: skip
        while producer.poll() is None:
            await asyncio.sleep(0.1)
        if producer.returncode != 0:
            raise RuntimeError(f"the producer failed: {producer_log.read_text()[-2000:]}")
        deadline = time.monotonic() + 60
        while await delivered(registry) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        cpu_s = time.process_time() - cpu_started
    finally:
        await component.stop()
        await engine.dispose()
        await bus.stop()
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=30)
    produced, arrived = read_times(produced_file), read_times(arrivals_file)
    latencies = [(arrived[k] - at) * 1000 for k, at in produced.items() if k in arrived]
    span = max(arrived.values()) - min(arrived.values()) if len(arrived) > 1 else float("nan")
    offered_line = producer_log.read_text().strip().splitlines()[-1]
    offered_s = float(offered_line.split(" in ")[1].split()[0])
    shutil.rmtree(work, ignore_errors=True)
    return {
        "offered_per_s": round(total / offered_s, 1),
        "actions": total,
        "delivered": len(latencies),
        "deliveries_per_s": round(len(arrived) / span, 1) if span == span else None,
        "notifier_cpu_ms_per_action": round(cpu_s * 1000 / total, 3),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.5), 2),
            "p95": round(percentile(latencies, 0.95), 2),
            "p99": round(percentile(latencies, 0.99), 2),
            "max": round(max(latencies, default=float("nan")), 2),
        },
    }


async def main() -> None:
    bootstrap = os.environ["VIGIE_KAFKA_BOOTSTRAP"]
    server = os.environ["VIGIE_DATABASE_URL"]
    rate = int(os.environ.get("BENCH_RATE", "500"))
    seconds = float(os.environ.get("BENCH_SECONDS", "5"))
    url = await create_database(server, prefix="vigie_bench")
    load_before = os.getloadavg()
    try:
        await upgrade_async(url)
        measured = await run(bootstrap, url, rate, seconds)
    finally:
        await drop_database(server, url)
    # Latency on a shared machine says as much about the others' work as about this one's.
    load = {"before": load_before[0], "after": os.getloadavg()[0]}
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S%z")
    result = {
        "at": at,
        "bench": "notifier",
        "channel": "webhook",
        "host": platform.node(),
        "python": platform.python_version(),
        "target_p99_ms": TARGET_P99_MS,
        "load_average_1m": load,
        **measured,
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / f"{at}-notifier.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    # The services run on uvloop (uvicorn's choice when it is installed); BENCH_LOOP=asyncio
    # measures on the standard loop instead.
    if os.environ.get("BENCH_LOOP", "uvloop") == "uvloop":
        uvloop.run(main())
    else:
        asyncio.run(main())
