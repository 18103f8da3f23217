"""A few minutes of mixed traffic through the local stack, scraped by a real Prometheus, then
the dashboards drawn from it: the pictures in docs/img/.

    set -a; . .local/services.env; set +a      # the local Kafka and PostgreSQL (make services-up)
    .venv/bin/python deploy/grafana/demo.py --minutes 8 --out docs/img

Starts the four services as processes on a throw-away database, Debian's prometheus on a free
loopback port (scraping every 5 s, with the rules), and a local receiver for the pages (which
answers 503 for a minute in the middle, so that retries show). Comments arrive at a varying
rate: praise, questions, abuse, neutral chatter and now and then a crisis; people acknowledge
most crisis cases after a while and resolve abusive ones; a few forged and duplicate
deliveries come in too. Everything is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.databases import create_database, drop_database  # noqa: E402
from tests.e2e.test_pipeline import skip_backlog  # noqa: E402
from tests.observability import (  # noqa: E402
    RULES,
    Prometheus,
    Traffic,
    free_port,
    scrape_config,
    stack_env,
)
from tests.peers import RecordingServer, recording_server  # noqa: E402
from vigie.stack import Stack  # noqa: E402

TEXTS = {
    "praise": [
        ("Thank you so much, great work, I love it!", "en"),
        ("Merci beaucoup, super travail, j'adore !", "fr"),
        ("Bravo à toute l'équipe, génial", "fr"),
    ],
    "question": [
        ("How do I reset my password?", "en"),
        ("Comment je fais pour changer mon adresse ?", "fr"),
        ("When does the next session start?", "en"),
    ],
    "abusive": [
        ("You are a stupid idiot, shut up", "en"),
        ("Pauvre con, ferme-la", "fr"),
    ],
    "neutral": [
        ("Saw this on the train this morning", "en"),
        ("On en parle demain à la réunion", "fr"),
    ],
    "crisis": [
        ("I can't take it anymore, I want to end my life", "en"),
        ("Je n'en peux plus, je veux mourir", "fr"),
    ],
}
MIX = {"praise": 5, "question": 3, "abusive": 2, "neutral": 4, "crisis": 1}


async def person(
    driver: Traffic, client: httpx.AsyncClient, comment: str, move: str, delay: float
) -> None:
    """Someone who opens the comment's case ``delay`` seconds later and acts on it."""
    try:
        case = await driver.case_of(client, comment)
        await asyncio.sleep(delay)
        await driver.act(client, case, move)
    except AssertionError as exc:  # no case (classified lower than expected), or a conflict
        print(f"  {move} skipped: {exc}")


async def drive(driver: Traffic, receiver: RecordingServer, seconds: float) -> None:
    rng = random.Random(7)
    start = time.monotonic()
    pending: set[asyncio.Task[None]] = set()
    sent = 0
    async with httpx.AsyncClient(timeout=10) as client:
        while (elapsed := time.monotonic() - start) < seconds:
            # A receiver outage in the middle: deliveries are retried, some give up.
            receiver.status = 503 if 0.45 * seconds < elapsed < 0.45 * seconds + 60 else 200
            per_second = 2.0 + 1.5 * math.sin(elapsed / 40)
            for _ in range(max(1, round(per_second))):
                kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
                text, lang = rng.choice(TEXTS[kind])
                # Platforms deliver within seconds, now and then (15% of crises here) late.
                late = kind == "crisis" and rng.random() < 0.15
                delay = rng.uniform(600, 840) if late else rng.uniform(0, 20)
                created = datetime.now(UTC) - timedelta(seconds=delay)
                comment = await driver.comment(client, text, created_at=created, lang=lang)
                sent += 1
                move = {"crisis": ("acknowledge", 0.8, 150), "abusive": ("resolve", 0.6, 90)}
                if kind in move and rng.random() < move[kind][1]:
                    act = person(
                        driver, client, comment, move[kind][0], rng.uniform(5, move[kind][2])
                    )
                    pending.add(asyncio.create_task(act))
            if rng.random() < 0.05:
                await driver.forged(client)
            await asyncio.sleep(1)
        print(f"  {sent} comments sent; waiting for the people's last actions")
        await asyncio.gather(*pending)


async def run(minutes: float, out: Path, keep: Path | None) -> None:
    bootstrap = os.environ.get("VIGIE_KAFKA_BOOTSTRAP")
    server = os.environ.get("VIGIE_DATABASE_URL")
    if not bootstrap or not server:
        raise SystemExit(
            "VIGIE_KAFKA_BOOTSTRAP and VIGIE_DATABASE_URL must be set (.local/services.env)"
        )
    database = await create_database(server, prefix="vigie_demo")
    ports = {name: free_port() for name in ("ingest", "router", "classifier", "notifier")}
    secret, token = uuid.uuid4().hex, uuid.uuid4().hex
    try:
        with recording_server() as receiver, tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            if keep is not None:  # Prometheus' data and configuration, to draw again later
                keep.mkdir(parents=True, exist_ok=True)
            env = stack_env(
                kafka_bootstrap=bootstrap,
                database_url=database,
                workdir=workdir,
                receiver_url=receiver.url,
                ingest_secret=secret,
                api_token=token,
                router_port=ports["router"],
            )
            await skip_backlog(bootstrap)
            prometheus = Prometheus(
                keep or workdir,
                scrape_config(ports, interval="5s", rule_files=sorted(RULES.glob("*.yml"))),
            )
            stack = Stack(env, log_dir=workdir / "logs", ports=ports)
            prometheus.start()
            try:
                stack.start(timeout_s=120)
                driver = Traffic(
                    ingest_url=stack["ingest"].url,
                    router_url=stack["router"].url,
                    ingest_secret=secret,
                    api_token=token,
                )
                print(f"driving traffic for {minutes:g} minutes (Prometheus at {prometheus.url})")
                await drive(driver, receiver, minutes * 60)
                await asyncio.sleep(15)  # the last scrapes
                subprocess.run(
                    [
                        sys.executable,
                        str(Path(__file__).with_name("render.py")),
                        "--prometheus",
                        prometheus.url,
                        "--out",
                        str(out),
                        "--minutes",
                        f"{minutes + 1:g}",
                    ],
                    check=True,
                )
            finally:
                stack.stop()
                prometheus.stop()
    finally:
        await drop_database(server, database)


def main() -> None:
    parser = argparse.ArgumentParser(description="Traffic, Prometheus and the dashboard images.")
    parser.add_argument("--minutes", type=float, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--keep", type=Path, help="keep Prometheus' data in this directory")
    args = parser.parse_args()
    asyncio.run(run(args.minutes, args.out, args.keep))


if __name__ == "__main__":
    main()
