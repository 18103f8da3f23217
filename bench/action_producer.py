"""Offers actions to the notifier bench at a steady rate, from a process of its own.

Each tick's publish runs as its own task, so a slow acknowledgement never delays the next
tick: the offered rate stays the rate asked for. Writes ``<action_id>\\t<unix seconds>`` per
action (the moment it was handed to the producer) to ``--out``.

``python -m bench.action_producer --bootstrap B --topic T --url U --rate R --seconds S --out F``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from pathlib import Path

import uvloop

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
from shared.runtime import utc_now

TICK_S = 0.01


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


async def produce(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:8]
    bus = KafkaBus(args.bootstrap, client_id="vigie-bench-producer", partitions=3)
    await bus.start()
    total = int(args.rate * args.seconds)
    per_tick = max(1, round(args.rate * TICK_S))
    produced: list[tuple[str, float]] = []
    pending: list[asyncio.Task[None]] = []
    try:
        started = time.perf_counter()
        for tick, first in enumerate(range(0, total, per_tick)):
            batch = [action(run, n, args.url) for n in range(first, min(total, first + per_tick))]
            now = time.time()
            produced.extend((a.action_id, now) for a in batch)
            messages = [to_message(args.topic, a, key=str(a.case_id)) for a in batch]
            pending.append(asyncio.create_task(bus.publish(messages)))
            due = started + (tick + 1) * TICK_S
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await asyncio.gather(*pending)
        offered_s = time.perf_counter() - started
    finally:
        await bus.stop()
    args.out.write_text("".join(f"{key}\t{at:.6f}\n" for key, at in produced))
    print(f"offered {total} actions in {offered_s:.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    # The services run on uvloop (uvicorn's choice when it is installed); BENCH_LOOP=asyncio
    # measures on the standard loop instead.
    if os.environ.get("BENCH_LOOP", "uvloop") == "uvloop":
        uvloop.run(produce(parser.parse_args()))
    else:
        asyncio.run(produce(parser.parse_args()))


if __name__ == "__main__":
    main()
