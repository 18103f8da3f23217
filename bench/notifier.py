"""The notifier alone: webhook deliveries per second and action-to-send latency.

Offers ``BENCH_RATE`` actions a second (default 500) for ``BENCH_SECONDS`` (default 5) to
one notifier on the real broker and a fresh PostgreSQL database, delivering signed webhooks
to a loopback receiver. Latency runs from the moment an action is produced to the moment
the receiver has read the request. Run with the services' env sourced:
``.venv/bin/python -m bench.notifier``; writes ``bench/results/<utc time>-notifier.json``.
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

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from services.notifier.settings import NotifierSettings
from services.notifier.worker import NotifierComponent
from shared.bus.kafka import KafkaBus
from shared.codec import to_message
from shared.events import (
    Action,
    ActionKind,
    Channel,
    CommentRef,
    Label,
    Receiver,
    Severity,
    derive_id,
)
from shared.runtime import Runtime, utc_now
from shared.storage.engine import create_engine
from shared.storage.migrate import upgrade_async
from tests.databases import create_database, drop_database
from tests.provider_peers import SIGNING_SECRET, provider_peer

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 50.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def action(run: str, n: int, url: str) -> Action:
    case_id = derive_id("case", "bench", run, str(n))
    action_id = f"{case_id}:notify:bench:1"
    return Action(
        event_id=derive_id("action", action_id),
        trace_id=f"bench-{run}-{n}",
        occurred_at=utc_now(),
        action_id=action_id,
        kind=ActionKind.NOTIFY,
        case_id=case_id,
        receiver=Receiver(name="bench", channel=Channel.WEBHOOK, url=url),
        severity=Severity.HIGH,
        labels=(Label.ABUSIVE,),
        comment=CommentRef(platform="generic", comment_id=f"bench-{run}-{n}"),
        case_opened_at=utc_now(),
        policy_version="bench",
        route="bench",
    )


async def run(bootstrap: str, database_url: str, rate: int, seconds: float) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]

    class Isolated(NotifierComponent):
        group = f"vigie-bench-notifier-{tag}"
        source = f"vigie.bench.{tag}.actions"
        outputs = (f"vigie.bench.{tag}.results",)

    bus = KafkaBus(bootstrap, client_id="vigie-bench-notifier", partitions=3)
    await bus.start()
    engine = create_engine(database_url)
    total = int(rate * seconds)
    produced: dict[str, float] = {}
    with provider_peer() as receiver:
        settings = NotifierSettings(
            webhook_signing_secret=SecretStr(SIGNING_SECRET.decode()),
            receiver_rate_per_s=100_000.0,  # one receiver takes the whole load here
            receiver_burst=100_000.0,
        )
        component = Isolated(settings)
        runtime = Runtime(bus=bus, engine=engine, registry=CollectorRegistry())
        await bus.ensure_topics([Isolated.source])
        await component.start(runtime)
        try:
            tick, per_tick = 0.01, max(1, round(rate * 0.01))
            started = time.perf_counter()
            for first in range(0, total, per_tick):
                batch = [
                    action(tag, n, f"{receiver.url}/webhook/bench")
                    for n in range(first, min(total, first + per_tick))
                ]
                now = time.perf_counter()
                produced.update((a.action_id, now) for a in batch)
                await bus.publish(
                    [to_message(Isolated.source, a, key=str(a.case_id)) for a in batch]
                )
                due = started + (first // per_tick + 1) * tick
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            offered_s = time.perf_counter() - started
            deadline = time.perf_counter() + 60
            while len(receiver.received()) < total and time.perf_counter() < deadline:
                await asyncio.sleep(0.1)
        finally:
            await component.stop()
            await engine.dispose()
            await bus.stop()
    got = receiver.received()
    latencies = [
        (r.at - produced[r.headers["X-Vigie-Idempotency-Key"]]) * 1000
        for r in got
        if r.headers.get("X-Vigie-Idempotency-Key") in produced
    ]
    span = max(r.at for r in got) - min(r.at for r in got) if len(got) > 1 else float("nan")
    return {
        "offered_per_s": round(total / offered_s, 1),
        "actions": total,
        "delivered": len(got),
        "deliveries_per_s": round(len(got) / span, 1) if span == span else None,
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
    try:
        await upgrade_async(url)
        measured = await run(bootstrap, url, rate, seconds)
    finally:
        await drop_database(server, url)
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S%z")
    result = {
        "at": at,
        "bench": "notifier",
        "channel": "webhook",
        "host": platform.node(),
        "python": platform.python_version(),
        "target_p99_ms": TARGET_P99_MS,
        **measured,
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / f"{at}-notifier.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
