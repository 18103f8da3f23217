"""One service's priority lane under routine load: how long a crisis takes to cross the
service while routine work keeps it busy, and the service's CPU per item.

``python -m bench.lanes router`` (the default) or ``python -m bench.lanes classifier``. One
process of the service (both lanes) runs on the real broker and a fresh PostgreSQL database.
This process publishes ``BENCH_ROUTINE_PER_S`` routine items a second (default 1000, in
bursts every 10 ms) onto the service's routine topic and ``BENCH_CRISIS_PER_S`` crisis items
(default 4) onto its priority topic, for ``BENCH_SECONDS`` (default 20). A crisis's latency
runs from the moment it is handed to the producer to the moment the service's output for it
is read back from the broker:

- router: classified comments in (a mix of abuse, questions, praise and neutral ones; crisis
  verdicts on the priority lane), the crisis's page read from the critical actions topic
  (consume, route, commit, publish);
- classifier: normalized comments in (ordinary texts; crisis texts on the priority lane),
  the crisis's verdict read from the priority classified topic (consume, classify, store,
  publish).

``BENCH_LOGINS_PER_S`` (router only, default 0) adds anonymous console logins with wrong
passwords at that rate during the measured phase, as a password-guessing client would send:
a crisis must not wait for their password checks. ``BENCH_REPORTS_EVERY_S`` (router only,
default 0: none) asks the API for the week's activity report, one after the other with that
pause between them, over ``BENCH_REPORT_COMMENTS`` (default 50,000) comments stored in that
week beforehand: a crisis must not wait for a report either.

Run with the services' env sourced; writes ``bench/results/<utc time>-lanes-<service>.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.classifier import comments
from bench.machine_cpu import cpu_seconds
from bench.pipeline import skip_backlog
from bench.stats import percentile
from shared.bus import Message
from shared.bus.kafka import KafkaBus, topic_partitions
from shared.codec import to_message
from shared.events import Action, ClassifiedComment, Comment, Event, Label, Severity
from shared.topics import (
    ACTIONS_CRITICAL,
    CLASSIFIED_PRIORITY,
    COMMENTS_CLASSIFIED,
    COMMENTS_NORMALIZED,
    COMMENTS_PRIORITY,
)
from tests.databases import asyncpg_dsn, create_database, drop_database
from tests.unit import factories as f
from vigie.stack import ServiceProcess

ROOT = Path(__file__).resolve().parents[1]
PORT = 18282
BURST_S = 0.01
CRISIS_TEXTS = (
    "I can't take it anymore, I want to end my life tonight",
    "je vais en finir ce soir, je n'en peux plus",
)


@dataclass(frozen=True)
class Lane:
    """What a service's lanes read, and where a crisis's output is read back."""

    service: str
    routine_topic: str
    priority_topic: str
    output_topic: str
    routine: Callable[[str, int], Event]
    crisis: Callable[[str, int], Event]
    output: type[Action] | type[ClassifiedComment]
    env: dict[str, str]


def _key(item: Event) -> str:
    comment = item.comment if isinstance(item, ClassifiedComment) else item
    assert isinstance(comment, Comment)
    return comment.partition_key


def routine_verdict(run: str, n: int) -> ClassifiedComment:
    """One of abuse (grouped by post), a question (by thread), praise, or nothing to do."""
    kind = n % 4
    if kind == 0:
        verdict = f.classification(Label.ABUSIVE, severity=Severity.MEDIUM, categories=("insult",))
    elif kind == 1:
        verdict = f.classification(Label.QUESTION, severity=Severity.LOW)
    elif kind == 2:
        verdict = f.classification(Label.PRAISE)
    else:
        verdict = f.classification()
    return f.classified(routine_comment(run, n), verdict)


def routine_comment(run: str, n: int, texts: Sequence[str] = ("hello",)) -> Comment:
    return f.comment(
        f"forum:{run}-r{n}",
        text=texts[n % len(texts)],
        author_id=f"{run}-a{n % 500}",
        post_id=f"{run}-p{n % 50}",
        thread_id=f"{run}-t{n % 200}",
        at=datetime.now(UTC),
    )


def crisis_comment(run: str, n: int) -> Comment:
    return f.comment(
        f"forum:{run}-c{n}",
        text=CRISIS_TEXTS[n % len(CRISIS_TEXTS)],
        author_id=f"{run}-crisis-{n}",
        trace_id=uuid.uuid4().hex,
        at=datetime.now(UTC),
    )


def router_lane() -> Lane:
    return Lane(
        "router",
        COMMENTS_CLASSIFIED,
        CLASSIFIED_PRIORITY,
        ACTIONS_CRITICAL,
        routine_verdict,
        lambda run, n: f.sensitive(crisis_comment(run, n)),
        Action,
        {"VIGIE_ACK_TOKEN_SECRET": uuid.uuid4().hex},
    )


def classifier_lane() -> Lane:
    texts = comments(2000)
    return Lane(
        "classifier",
        COMMENTS_NORMALIZED,
        COMMENTS_PRIORITY,
        CLASSIFIED_PRIORITY,
        lambda run, n: routine_comment(run, n, texts),
        crisis_comment,
        ClassifiedComment,
        {},
    )


LANES = {"router": router_lane, "classifier": classifier_lane}


def message(topic: str, item: Event) -> Message:
    return to_message(topic, item, key=_key(item))


async def outputs_read(
    bootstrap: str, lane: Lane, sent: dict[str, float], read: dict[str, float], stop: asyncio.Event
) -> None:
    """Record when each crisis's output (by trace id) is first read back."""
    topic = lane.output_topic
    partitions = await topic_partitions(bootstrap, [topic])
    assigned = [TopicPartition(topic, p) for p in partitions.get(topic, [])]
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
                    output = lane.output.model_validate_json(record.value)
                    if output.trace_id in sent:
                        read.setdefault(output.trace_id, now)
    finally:
        await consumer.stop()


async def records_done(port: int, stage: str) -> int:
    """The records ``stage`` has finished (processed or dead-lettered), from its metrics."""
    async with httpx.AsyncClient(timeout=60) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("vigie_stage_records_total{") and f'stage="{stage}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


async def offer(
    bus: KafkaBus,
    lane: Lane,
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
    failed: list[BaseException] = []

    def settled(task: asyncio.Task[None]) -> None:
        pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            failed.append(task.exception())  # type: ignore[arg-type]

    while (elapsed := time.perf_counter() - start) < seconds:
        due_routine = int(elapsed * routine_per_s) - routine
        if due_routine > 0:
            batch = [
                message(lane.routine_topic, lane.routine(run, routine + i))
                for i in range(due_routine)
            ]
            routine += due_routine
            task = asyncio.create_task(bus.publish(batch))
            pending.add(task)
            task.add_done_callback(settled)
        if crisis_per_s > 0 and int(elapsed * crisis_per_s) >= crises:
            item = lane.crisis(run, crises)
            crises += 1
            sent[item.trace_id] = time.perf_counter()
            task = asyncio.create_task(bus.publish([message(lane.priority_topic, item)]))
            pending.add(task)
            task.add_done_callback(settled)
        await asyncio.sleep(BURST_S)
    await asyncio.gather(*pending, return_exceptions=True)
    if failed:
        raise RuntimeError(f"{len(failed)} publishes failed, the first: {failed[0]!r}")
    return routine


async def guess_logins(port: int, per_s: float, seconds: float, statuses: Counter[str]) -> None:
    """Wrong console logins at ``per_s`` for ``seconds``; their answers' statuses counted."""
    names = [f"guess-{i}" for i in range(50)]

    async def attempt(client: httpx.AsyncClient, n: int) -> None:
        form = {"name": names[n % len(names)], "password": "not the password"}
        try:
            answer = await client.post("/console/login", data=form)
            statuses[str(answer.status_code)] += 1
        except httpx.HTTPError as exc:
            statuses[type(exc).__name__] += 1

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        start, sent = time.perf_counter(), 0
        pending: set[asyncio.Task[None]] = set()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(int(elapsed * per_s) - sent):
                task = asyncio.create_task(attempt(client, sent))
                sent += 1
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.sleep(BURST_S)
        await asyncio.gather(*pending)


async def store_week_of_comments(database: str, count: int) -> None:
    """``count`` classified comments received during the last seven days, written by the
    database itself (the report reads them; the lanes never do)."""
    import asyncpg  # the bench's only direct driver use

    conn = await asyncpg.connect(asyncpg_dsn(database))
    try:
        await conn.execute(
            """
            INSERT INTO comments (event_id, platform, source, comment_id, revision, kind,
                post_id, thread_id, author_id, author_name, text, received_at, delivery_id,
                trace_id)
            SELECT md5('c' || i), 'meta', 'page', 'bench-' || i, 0, 'created', 'p' || i % 100,
                't' || i, 'a' || i % 5000, 'Name ' || i % 5000,
                (ARRAY['merci pour cette vidéo', 'where can I buy it?', 'you are all idiots',
                       'nice weather today'])[1 + i % 4] || ' ' || i,
                now() - interval '6 days' * random(), 'd' || i, 't' || i
            FROM generate_series(1, $1) AS i
            """,
            count,
        )
        await conn.execute(
            """
            INSERT INTO classifications (event_id, platform, comment_id, revision, kind, labels,
                categories, severity, scores, unsure, lang, rationale, model_version,
                classified_at)
            SELECT md5('v' || i), 'meta', 'bench-' || i, 0, 'created',
                (ARRAY['["praise"]', '["question"]', '["abusive"]', '[]'])[1 + i % 4]::json,
                '[]'::json, (ARRAY['low', 'low', 'medium', 'low'])[1 + i % 4],
                '{"praise": 0.9}'::json, '[]'::json, 'en', 'bench', 'bench', now()
            FROM generate_series(1, $1) AS i
            """,
            count,
        )
    finally:
        await conn.close()


async def ask_reports(port: int, token: str, every_s: float, seconds: float) -> list[float]:
    """The week's report, one request after the other for ``seconds``; each one's time."""
    taken: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    today = datetime.now(UTC).date().isoformat()  # the seven days the comments were put in
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            asked = time.perf_counter()
            answer = await client.get(
                "/api/v1/reports", params={"period": "week", "ending": today}, headers=headers
            )
            answer.raise_for_status()
            taken.append(time.perf_counter() - asked)
            await asyncio.sleep(every_s)
    return taken


async def main(lane: Lane) -> dict[str, Any]:
    bootstrap = os.environ["VIGIE_KAFKA_BOOTSTRAP"]
    server = os.environ["VIGIE_DATABASE_URL"]
    seconds = float(os.environ.get("BENCH_SECONDS", "20"))
    routine_per_s = float(os.environ.get("BENCH_ROUTINE_PER_S", "1000"))
    crisis_per_s = float(os.environ.get("BENCH_CRISIS_PER_S", "4"))
    router = lane.service == "router"
    logins_per_s = float(os.environ.get("BENCH_LOGINS_PER_S", "0")) if router else 0.0
    reports_every_s = float(os.environ.get("BENCH_REPORTS_EVERY_S", "0")) if router else 0.0
    report_comments = int(os.environ.get("BENCH_REPORT_COMMENTS", "50000"))
    token = uuid.uuid4().hex
    run = uuid.uuid4().hex[:8]
    prefix = f"bench-{run}-"
    database = await create_database(server, prefix=f"vigie_bench_{lane.service}")
    bus = KafkaBus(bootstrap, client_id=f"vigie-bench-{lane.service}")
    service = ServiceProcess(
        lane.service,
        PORT,
        {
            "VIGIE_KAFKA_BOOTSTRAP": bootstrap,
            "VIGIE_DATABASE_URL": database,
            "VIGIE_KAFKA_GROUP_PREFIX": prefix,
            "VIGIE_LOG_LEVEL": "WARNING",
            "VIGIE_MIGRATE_ON_START": "true",
            "VIGIE_ROUTER_API_TOKEN": token,
            **lane.env,
        },
        ROOT / ".local" / "logs" / "bench" / f"{lane.service}-lanes.log",
    )
    try:
        await bus.start()
        await bus.ensure_topics([lane.routine_topic, lane.priority_topic, lane.output_topic])
        await skip_backlog(bootstrap, prefix)
        service.start()
        await asyncio.to_thread(service.wait_ready, 90.0)
        if reports_every_s:
            await store_week_of_comments(database, report_comments)
        assert service.process is not None
        # Warm-up (not counted): the first statements, the first outputs, the lanes' fetches.
        await offer(bus, lane, f"{run}w", 2.0, 100, 2, {})
        await asyncio.sleep(3.0)
        stop = asyncio.Event()
        sent: dict[str, float] = {}
        read: dict[str, float] = {}
        reader = asyncio.create_task(outputs_read(bootstrap, lane, sent, read, stop))
        await asyncio.sleep(1.0)  # the reader is at the end of the topic
        cpu_before = cpu_seconds(service.process.pid)
        done_before = await records_done(PORT, lane.service)
        print(
            f"{lane.service}: {routine_per_s:.0f} routine + {crisis_per_s:.0f} crisis items/s "
            f"for {seconds:.0f} s"
            + (f", {logins_per_s:.0f} wrong logins/s" if logins_per_s else "")
            + " ...",
            flush=True,
        )
        logins: Counter[str] = Counter()
        guessing = asyncio.create_task(guess_logins(PORT, logins_per_s, seconds, logins))
        reporting = asyncio.create_task(
            ask_reports(PORT, token, reports_every_s, seconds if reports_every_s else 0)
        )
        routine = await offer(bus, lane, run, seconds, routine_per_s, crisis_per_s, sent)
        await guessing
        reports = await reporting
        deadline = time.perf_counter() + 60
        while len(read) < len(sent) and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        cpu = cpu_seconds(service.process.pid) - cpu_before
        routine_done = await records_done(PORT, lane.service) - done_before
        stop.set()
        await reader
        latencies = sorted((read[t] - sent[t]) * 1000 for t in sent if t in read)
        figures = {
            f"crisis_{name}_ms": round(percentile(latencies, q), 1) if latencies else None
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        }
        return {
            "bench": f"lanes-{lane.service}",
            "at": datetime.now(UTC).isoformat(),
            "machine": platform.node(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "routine_per_s": routine_per_s,
            "routine_offered": routine,
            "routine_done": routine_done,  # by the time the last crisis was out
            "logins_per_s": logins_per_s,
            "reports": len(reports),
            "report_seconds": [round(t, 2) for t in reports],
            "report_comments": report_comments if reports_every_s else 0,
            "login_answers": dict(logins),
            "crises": len(sent),
            "crises_out": len(latencies),
            **figures,
            "cpu_ms_per_item": round(cpu * 1000 / max(routine_done + len(sent), 1), 3),
        }
    finally:
        service.stop()
        await bus.stop()
        await drop_database(server, database)


def run() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "router"
    if name not in LANES:
        sys.exit(f"usage: python -m bench.lanes [{'|'.join(LANES)}]")
    result = uvloop.run(main(LANES[name]()))
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S%z")
    (out / f"{stamp}-lanes-{name}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    run()
