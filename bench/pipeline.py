"""``make bench``: the four services as processes on the real broker, next to a raw Kafka
pass-through measured on the same broker in the same run.

A warm-up (``BENCH_WARMUP_COMMENTS``) comes first, then ``ANALYZE``, so that PostgreSQL plans
as in a database in service rather than for the empty tables of the run's new database.

Phases, each on a stack that has drained the previous one:

1. sustained throughput, comments/s: signed Meta webhooks carrying ``BENCH_BATCH`` comments
   each (``entry[].changes[]``, as Meta batches them), then generic webhooks of one comment
   each, sent as fast as ingest answers; a comment counts once the router has stored it and
   committed its offset. CPU seconds per comment of each service, of the local broker and
   PostgreSQL, and of this client come from ``/proc`` (``bench.machine_cpu``); their sum gives
   the rate the machine's cores could sustain at most;
2. crisis latency: generic crisis webhooks (``BENCH_CRISIS_PER_S``) while
   ``BENCH_BACKGROUND_PER_S`` ordinary comments/s flow in batched webhooks; latency runs from
   just before the POST to the page's arrival at the recording receiver;
3. ingest webhook -> broker ack at 1,000 webhooks/s (the open loop of ``bench.ingest``);
4. peak RSS (``VmHWM``) of each service process.

Prints a table and writes ``bench/results/<utc time>.json`` so that runs can be compared.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.ingest import Connection, closed_loop, open_loop
from bench.machine_cpu import cpu_seconds, infrastructure_seconds
from bench.stats import percentile
from shared.bus.kafka import KafkaBus, topic_partitions
from shared.topics import ACTIONS, ACTIONS_CRITICAL
from tests.databases import analyze, asyncpg_dsn, create_database, drop_database
from tests.faults.traffic import (
    CRISIS_TEXTS,
    GENERIC_SECRET,
    META_PAGE,
    META_SECRET,
    OTHER_TEXTS,
    _sign,
    generic_comment,
)
from tests.peers import Received, RecordingServer, recording_server
from vigie.groups import PIPELINE_GROUPS, ROUTING_GROUPS
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


# --- traffic -------------------------------------------------------------------------------


def http_request(path: str, headers: dict[str, str], body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


def text_of(n: int, crisis_every: int) -> str:
    if crisis_every and n % crisis_every == 0:
        return f"{CRISIS_TEXTS[n % len(CRISIS_TEXTS)]} ({n})"
    return f"{OTHER_TEXTS[n % len(OTHER_TEXTS)]} ({n})"


def meta_webhook(first: int, size: int, crisis_every: int) -> bytes:
    """One signed Meta page webhook with ``size`` new comments in ``entry[].changes[]``."""
    now = int(time.time())
    changes = []
    for n in range(first, first + size):
        post = f"{META_PAGE}_{uuid.uuid4().int % 10**12}"
        changes.append(
            {
                "field": "feed",
                "value": {
                    "from": {"id": uuid.uuid4().hex, "name": "Someone"},
                    "item": "comment",
                    "comment_id": f"{uuid.uuid4().int % 10**12}_{uuid.uuid4().int % 10**12}",
                    "post_id": post,
                    "verb": "add",
                    "parent_id": post,
                    "created_time": now,
                    "message": text_of(n, crisis_every),
                },
            }
        )
    body = json.dumps(
        {"object": "page", "entry": [{"id": META_PAGE, "time": now, "changes": changes}]}
    ).encode()
    headers = {"content-type": "application/json", "x-hub-signature-256": _sign(META_SECRET, body)}
    return http_request("/webhooks/meta", headers, body)


def generic_webhook(n: int, crisis_every: int) -> bytes:
    comment = generic_comment("bench", text_of(n, crisis_every), uuid.uuid4().hex, False)
    return http_request(comment.path, comment.headers, comment.body)


# --- what the stack did --------------------------------------------------------------------


async def skip_backlog(bootstrap: str, prefix: str) -> None:
    """Start this run's groups at the end of their topics: this broker is shared, and what
    earlier runs left there is not this run's work."""
    for group, topics in PIPELINE_GROUPS.items():
        existing = await topic_partitions(bootstrap, topics)
        partitions = [TopicPartition(t, p) for t, numbers in existing.items() for p in numbers]
        if not partitions:
            continue
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=prefix + group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            await consumer.commit(dict((await consumer.end_offsets(partitions)).items()))
        finally:
            await consumer.stop()


class Routed:
    """Comments the router has stored and committed: its group's offsets on the topic."""

    def __init__(self, bootstrap: str, stack: Stack, prefix: str) -> None:
        self._stack = stack
        self._prefix = prefix
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigie-bench")
        self._ends = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._base = 0

    async def start(self) -> None:
        await self._admin.start()
        await self._ends.start()
        self._base = await self._committed()

    async def _committed(self) -> int:
        total = 0
        for group, topic in ROUTING_GROUPS.items():  # both lanes
            offsets = await self._admin.list_consumer_group_offsets(self._prefix + group)
            total += sum(
                meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0
            )
        return total

    async def count(self) -> int:
        return await self._committed() - self._base

    async def wait_for(self, total: int, label: str, timeout_s: float = 600) -> float:
        """Wait until ``total`` comments are routed; the perf_counter when they were."""
        deadline = time.monotonic() + timeout_s
        done = await self.count()
        while done < total and time.monotonic() < deadline:
            for service in self._stack.services.values():
                if service.process is None or service.process.poll() is not None:
                    raise RuntimeError(f"{service.name} exited; see {service.log_path}")
            progress(label, done, total)
            await asyncio.sleep(0.2)
            done = await self.count()
        progress(label, done, total)
        return time.perf_counter()

    async def notifier_lag(self) -> int:
        """Actions the notifier has yet to take: the end of the topic minus its offsets."""
        left = 0
        for group, topics in PIPELINE_GROUPS.items():
            if not set(topics) & {ACTIONS, ACTIONS_CRITICAL}:
                continue
            committed = await self._admin.list_consumer_group_offsets(self._prefix + group)
            partitions = [tp for tp in committed if tp.topic in topics]
            ends = await self._ends.end_offsets(partitions) if partitions else {}
            left += sum(max(0, ends[tp] - committed[tp].offset) for tp in partitions)
        return left

    async def wait_for_notifier(self, timeout_s: float = 300) -> None:
        """Wait until the notifier has sent every page asked so far, so that a phase does not
        measure the queue an earlier one left behind."""
        deadline = time.monotonic() + timeout_s
        while (lag := await self.notifier_lag()) > 0 and time.monotonic() < deadline:
            print(f"\r  notifier catching up: {lag} actions left   ", end="", flush=True)
            await asyncio.sleep(0.5)
        print()

    async def close(self) -> None:
        await self._ends.stop()
        await self._admin.close()


def cpu_of(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each service, then of the broker, the database and this client."""
    out = {}
    for name, service in stack.services.items():
        assert service.process is not None
        out[name] = cpu_seconds(service.process.pid)
    return out | infrastructure_seconds()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def trace_of(page: Received) -> str | None:
    """The trace id a page carries (replies posted to the platform's API carry none)."""
    try:
        body = page.json()
    except ValueError:
        return None
    return body.get("trace_id") if isinstance(body, dict) else None


# --- phases --------------------------------------------------------------------------------


async def throughput(
    stack: Stack,
    routed: Routed,
    payloads: list[bytes],
    comments: int,
    label: str,
) -> dict[str, Any]:
    before, cpu_before = await routed.count(), cpu_of(stack)
    started = time.perf_counter()
    sending = asyncio.create_task(closed_loop(payloads, 8, port=PORTS["ingest"]))
    done_at = await routed.wait_for(before + comments, label)
    accepted = await sending
    elapsed = done_at - started
    cpu = cpu_of(stack)
    per_comment = {
        name: round((cpu[name] - cpu_before[name]) * 1000 / comments, 3)
        for name in cpu
        if name in cpu_before
    }
    machine_ms = sum(per_comment.values())
    return {
        "comments": comments,
        "webhooks": len(payloads),
        "comments_per_webhook": comments // len(payloads),
        "routed": await routed.count() - before,
        "seconds": round(elapsed, 2),
        "throughput_per_s": round(comments / elapsed, 1),
        "ingest_ack_p99_ms": accepted["p99_ms"],
        "failures": accepted["failures"],
        "cpu_ms_per_comment": per_comment,
        "machine_cpu_ms_per_comment": round(machine_ms, 3),
        # What the machine's cores could sustain if nothing but this pipeline ran on them.
        "cpu_bound_ceiling_per_s": round((os.cpu_count() or 1) * 1000 / machine_ms, 1),
    }


async def crisis_latency(
    stack: Stack,
    routed: Routed,
    receiver: RecordingServer,
    *,
    background_per_s: float,
    batch: int,
    crisis_per_s: float,
    seconds: float,
) -> dict[str, Any]:
    before = await routed.count()
    webhooks = int(background_per_s / batch * seconds)
    background = [meta_webhook(10_000_000 + i * batch, batch, 0) for i in range(webhooks)]
    crises = int(crisis_per_s * seconds)
    sent_at: dict[str, float] = {}
    first_page: dict[str, float] = {}
    seen = len(receiver.received())

    async def send_crises() -> None:
        conn = Connection(PORTS["ingest"])
        await conn.open()
        assert conn.reader is not None and conn.writer is not None
        start = time.perf_counter()
        try:
            for n in range(crises):
                await asyncio.sleep(max(0.0, start + n / crisis_per_s - time.perf_counter()))
                payload = generic_webhook(n, 1)
                at = time.perf_counter()
                conn.writer.write(payload)
                head = await conn.reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                answer = json.loads(await conn.reader.readexactly(length))
                sent_at[answer["trace_id"]] = at
        finally:
            await conn.close()

    flowing = asyncio.create_task(
        open_loop(background, background_per_s / batch, 4, port=PORTS["ingest"])
    )
    await send_crises()
    loaded = await flowing
    await routed.wait_for(before + webhooks * batch + crises, "background and crises routed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for r in receiver.received()[seen:]:
            trace = trace_of(r)
            if trace in sent_at and trace not in first_page:
                first_page[trace] = r.at
        if len(first_page) >= len(sent_at):
            break
        await asyncio.sleep(0.2)
    latencies = [(first_page[t] - sent_at[t]) * 1000 for t in first_page]
    # Pages by receiver, replies and reactions as "graph": what the notifier had to send.
    requests = Counter(r.path.split("/")[1] for r in receiver.received()[seen:])
    return {
        "background_comments_per_s": background_per_s,
        "background_comments_per_webhook": batch,
        "background_achieved_webhooks_per_s": loaded["throughput_per_s"],
        "crisis_comments": crises,
        "paged": len(first_page),
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies, default=float("nan")), 1),
        "receiver_requests": dict(requests.most_common()),
        "traces": sorted(sent_at),
    }


# The hops of a crisis comment's path, from the rows' own timestamps: when ingest received
# it, when the classifier classified it (its clock before its write), when the router placed
# it (its clock when the case opened), when the notifier claimed the page, when it was sent.
HOPS = (
    ("ingest -> classified", "received_at", "classified_at"),
    ("classified -> case opened", "classified_at", "opened_at"),
    ("case opened -> page claimed", "opened_at", "claimed_at"),
    ("page claimed -> sent", "claimed_at", "sent_at"),
)
_HOPS_SQL = """
SELECT cm.received_at, cl.classified_at, cs.opened_at,
       min(d.created_at) AS claimed_at, min(d.updated_at) AS sent_at
FROM cases cs
JOIN case_comments cc ON cc.case_id = cs.id
JOIN comments cm ON cm.platform = cc.platform AND cm.comment_id = cc.comment_id
  AND cm.revision = cc.revision
JOIN classifications cl ON cl.platform = cm.platform AND cl.comment_id = cm.comment_id
  AND cl.revision = cm.revision
JOIN deliveries d ON d.case_id = cs.id
WHERE cs.trace_id = ANY($1::text[]) AND cs.opened_by LIKE '%' || cc.platform || ':%'
GROUP BY cm.received_at, cl.classified_at, cs.opened_at
"""


async def crisis_hops(database: str, traces: list[str]) -> dict[str, dict[str, float]]:
    """p50 and p90 of each hop of the crises' path, in milliseconds."""
    conn = await asyncpg.connect(asyncpg_dsn(database))
    try:
        rows = await conn.fetch(_HOPS_SQL, traces)
    finally:
        await conn.close()
    out: dict[str, dict[str, float]] = {}
    for name, start, end in HOPS:
        spans = [(row[end] - row[start]).total_seconds() * 1000 for row in rows]
        out[name] = {
            "p50_ms": round(percentile(spans, 0.5), 1),
            "p90_ms": round(percentile(spans, 0.9), 1),
            "cases": len(spans),
        }
    return out


async def ingest_ack(stack: Stack, routed: Routed, rate: float, count: int) -> dict[str, Any]:
    before = await routed.count()
    payloads = [generic_webhook(20_000_000 + n, 0) for n in range(count)]
    result = await open_loop(payloads, rate, 16, port=PORTS["ingest"])
    await routed.wait_for(before + count, "ingest phase routed")
    return {"offered_per_s": rate, **result}


async def pipeline(bootstrap: str, database_server: str, sizes: dict[str, Any]) -> dict[str, Any]:
    database = await create_database(database_server, prefix="vigie_bench")
    try:
        return await _measure(bootstrap, database, sizes)
    finally:
        await drop_database(database_server, database)


def _policy(workdir: Path, receiver: RecordingServer) -> Path:
    policy = yaml.safe_load((ROOT / "config" / "policy.yaml").read_text())
    for entry in policy["receivers"]:
        entry["url"] = f"{receiver.url}/{entry['name']}"
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    # The policy names its resource directory relative to itself.
    (workdir / "resources.yaml").write_text((ROOT / "config" / "resources.yaml").read_text())
    return policy_file


async def _measure(bootstrap: str, database: str, sizes: dict[str, Any]) -> dict[str, Any]:
    with recording_server() as receiver, tempfile.TemporaryDirectory() as workdir:
        receiver.reply = json.dumps({"id": "bench-1", "success": True}).encode()
        # Groups of this run's own: services of other runs on the broker take nothing of it.
        prefix = f"bench-{uuid.uuid4().hex[:8]}-"
        env = {
            "VIGIE_KAFKA_BOOTSTRAP": bootstrap,
            "VIGIE_DATABASE_URL": database,
            "VIGIE_POLICY_FILE": str(_policy(Path(workdir), receiver)),
            "VIGIE_GENERIC_WEBHOOK_SECRET": GENERIC_SECRET,
            "VIGIE_META_APP_SECRET": META_SECRET,
            "VIGIE_WEBHOOK_SIGNING_SECRET": uuid.uuid4().hex,
            "VIGIE_META_GRAPH_URL": f"{receiver.url}/graph",
            "VIGIE_META_PAGE_TOKENS": json.dumps({META_PAGE: "bench-page-token"}),
            "VIGIE_LOG_LEVEL": "WARNING",
            "VIGIE_KAFKA_GROUP_PREFIX": prefix,
        }
        await skip_backlog(bootstrap, prefix)
        stack = Stack(env, log_dir=ROOT / ".local" / "logs" / "bench", ports=PORTS)
        routed = Routed(bootstrap, stack, prefix)
        stack.start(timeout_s=120)
        try:
            await routed.start()
            print("warming up ...", flush=True)
            batch, count = sizes["batch"], sizes["comments"]
            # Generic comments: Meta ones would leave likes queued behind Meta's rate limit.
            warmup = sizes["warmup_comments"]
            if warmup:
                await throughput(
                    stack,
                    routed,
                    [generic_webhook(-n - 1, 7) for n in range(warmup)],
                    warmup,
                    "warm-up routed",
                )
            await analyze(database)
            crisis_every = sizes["crisis_every"]
            print(f"throughput: {count} comments, {batch} per Meta webhook ...", flush=True)
            batched = await throughput(
                stack,
                routed,
                [meta_webhook(i, batch, crisis_every) for i in range(0, count, batch)],
                count,
                "routed",
            )
            print(f"  {batched}", flush=True)
            single = sizes["single_comments"]
            print(f"throughput: {single} comments, one per generic webhook ...", flush=True)
            one = await throughput(
                stack,
                routed,
                [generic_webhook(1_000_000 + n, crisis_every) for n in range(single)],
                single,
                "routed",
            )
            print(f"  {one}", flush=True)
            print(
                f"crisis latency under {sizes['background_per_s']:.0f} comments/s ...", flush=True
            )
            await routed.wait_for_notifier()
            latency = await crisis_latency(
                stack,
                routed,
                receiver,
                background_per_s=sizes["background_per_s"],
                batch=batch,
                crisis_per_s=sizes["crisis_per_s"],
                seconds=sizes["latency_seconds"],
            )
            hops = await crisis_hops(database, latency.pop("traces"))
            print(f"  {latency}", flush=True)
            print("ingest ack at 1000 webhooks/s ...", flush=True)
            ingest = await ingest_ack(stack, routed, 1000.0, sizes["ingest_webhooks"])
            rss = {}
            for name, service in stack.services.items():
                assert service.process is not None
                rss[name] = round(peak_rss_mb(service.process.pid), 1)
        finally:
            await routed.close()
            stack.stop()
    return {
        "throughput_batched": batched,
        "throughput_one_per_webhook": one,
        "crisis_latency": latency,
        "crisis_hops": hops,
        "ingest_ack": ingest,
        "peak_rss_mb": rss,
    }


def table(raw: dict[str, float], stack: dict[str, Any]) -> list[tuple[str, str]]:
    batched, one = stack["throughput_batched"], stack["throughput_one_per_webhook"]
    latency, ingest = stack["crisis_latency"], stack["ingest_ack"]
    rows = [
        ("raw Kafka pass-through (msg/s)", f"{raw['throughput_per_s']:.0f}"),
        ("raw Kafka pass-through p50 / p99 (ms)", f"{raw['p50_ms']:.1f} / {raw['p99_ms']:.1f}"),
        (
            f"end to end, {batched['comments_per_webhook']} per webhook (comments/s)",
            f"{batched['throughput_per_s']:.0f}",
        ),
        ("end to end, 1 per webhook (comments/s)", f"{one['throughput_per_s']:.0f}"),
        (
            f"crisis -> page p50 / p99 (ms), {latency['background_comments_per_s']:.0f}/s bg",
            f"{latency['p50_ms']:.0f} / {latency['p99_ms']:.0f}",
        ),
        ("  crises paged / sent", f"{latency['paged']} / {latency['crisis_comments']}"),
        *(
            (f"  {name} p50 / p90 (ms)", f"{hop['p50_ms']:.0f} / {hop['p90_ms']:.0f}")
            for name, hop in stack["crisis_hops"].items()
        ),
        (
            "ingest ack p50 / p99 at 1000/s (ms)",
            f"{ingest['p50_ms']:.1f} / {ingest['p99_ms']:.1f}",
        ),
    ]

    def cost(name: str) -> str:
        per = batched["cpu_ms_per_comment"][name], one["cpu_ms_per_comment"][name]
        return f"{per[0]:.2f} / {per[1]:.2f}"

    for name in stack["peak_rss_mb"]:
        rows.append((f"{name}: CPU ms/comment (batched / single)", cost(name)))
        rows.append((f"{name}: peak RSS (MB)", f"{stack['peak_rss_mb'][name]:.0f}"))
    for name in batched["cpu_ms_per_comment"]:
        if name not in stack["peak_rss_mb"] and name in one["cpu_ms_per_comment"]:
            rows.append((f"{name}: CPU ms/comment (batched / single)", cost(name)))
    machine = batched["machine_cpu_ms_per_comment"], one["machine_cpu_ms_per_comment"]
    rows.append(
        ("whole machine: CPU ms/comment (batched / single)", f"{machine[0]:.2f} / {machine[1]:.2f}")
    )
    rows.append(
        (
            f"  CPU-bound ceiling on {os.cpu_count()} cores (comments/s)",
            f"{batched['cpu_bound_ceiling_per_s']:.0f} / {one['cpu_bound_ceiling_per_s']:.0f}",
        )
    )
    return rows


async def main() -> None:
    bootstrap = os.environ["VIGIE_KAFKA_BOOTSTRAP"]
    database = os.environ["VIGIE_DATABASE_URL"]
    env = os.environ.get
    sizes: dict[str, Any] = {
        "comments": int(env("BENCH_COMMENTS", "6000")),
        "warmup_comments": int(env("BENCH_WARMUP_COMMENTS", "2000")),
        "batch": int(env("BENCH_BATCH", "10")),
        "single_comments": int(env("BENCH_SINGLE_COMMENTS", "2000")),
        "crisis_every": int(env("BENCH_CRISIS_EVERY", "50")),
        "background_per_s": float(env("BENCH_BACKGROUND_PER_S", "1000")),
        "crisis_per_s": float(env("BENCH_CRISIS_PER_S", "4")),
        "latency_seconds": float(env("BENCH_LATENCY_SECONDS", "10")),
        "ingest_webhooks": int(env("BENCH_INGEST_WEBHOOKS", "3000")),
    }
    raw_count = int(env("BENCH_RAW_MESSAGES", "5000"))
    print(f"raw aiokafka pass-through, {raw_count} messages ...", flush=True)
    raw = await raw_passthrough(bootstrap, raw_count)
    print("pipeline: four services as processes ...", flush=True)
    stack = await pipeline(bootstrap, database, sizes)
    result: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sizes": sizes,
        "targets": {"throughput_per_s": 3000, "crisis_p99_ms": 250, "ingest_ack_p99_ms": 15},
        "raw_kafka_passthrough": raw,
        "pipeline": stack,
    }
    print()
    for label, value in table(raw, stack):
        print(f"{label:<52}{value:>16}")
    out = ROOT / "bench" / "results" / f"{result['at'].replace(':', '')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
