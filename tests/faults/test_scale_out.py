"""Two classifiers and two routers in one consumer group share the stream and keep each
thread's order: a thread's comments share a partition key, so one replica sees them, in order.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from shared.topics import COMMENTS_CLASSIFIED
from tests.faults.conftest import Rig
from tests.faults.nodes import free_port
from tests.faults.traffic import Comment, generic_comment
from vigie.stack import ServiceProcess

pytestmark = pytest.mark.faults

THREADS = 24  # over 3 partitions: each replica gets threads, but for a (2/3)^24 chance
REPLIES = 8
SCALED = ("classifier", "router")


def handled(url: str) -> float:
    """Records this replica's stages handled without error, from its own /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "vigie_stage_records_total" and sample.labels.get("outcome") == "ok"
    )


@pytest.fixture
def second_replicas(rig: Rig) -> Iterator[dict[str, ServiceProcess]]:
    replicas = {
        name: ServiceProcess(
            name,
            free_port(),
            rig.stack[name].env,
            rig.stack[name].log_path.with_name(f"{name}-2.log"),
        )
        for name in SCALED
    }
    try:
        for replica in replicas.values():
            replica.start()
        for replica in replicas.values():
            replica.wait_ready(180)
        yield replicas
    finally:
        for replica in replicas.values():
            replica.stop()


def thread_stream(source: str) -> list[Comment]:
    """A root then replies in each thread, the threads interleaved; each text says the
    comment's position in its thread."""
    roots = [uuid.uuid4().hex for _ in range(THREADS)]
    return [
        generic_comment(
            source,
            f"reply {position} in thread {thread}",
            uuid.uuid4().hex,
            False,
            own_id=root if position == 0 else None,
            post_id=f"post-{root}",
            parent_id=root if position else None,
        )
        for position in range(REPLIES)
        for thread, root in enumerate(roots)
    ]


async def classified_order(bootstrap: str, source: str, expected: int) -> dict[str, list[int]]:
    """Each thread's positions in the order its records sit on the classified topic."""
    consumer = AIOKafkaConsumer(
        COMMENTS_CLASSIFIED,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    order: dict[str, list[int]] = defaultdict(list)
    seen = 0
    try:
        deadline = asyncio.get_running_loop().time() + 120
        while seen < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        comment = json.loads(record.value)["comment"]
                    except (ValueError, KeyError, TypeError):
                        continue  # the poison scenario's records share the topic
                    if comment["source"] != source:
                        continue
                    seen += 1
                    order[comment["thread_id"]].append(int(comment["text"].split()[1]))
    finally:
        await consumer.stop()
    return order


async def test_two_replicas_share_the_load_and_keep_each_thread_in_order(
    rig: Rig, second_replicas: dict[str, ServiceProcess]
) -> None:
    replicas = {name: [rig.stack[name].url, second_replicas[name].url] for name in SCALED}
    await asyncio.sleep(5)  # the groups hand the second replicas their partitions
    before = {url: handled(url) for urls in replicas.values() for url in urls}

    source = f"faults-scale-{uuid.uuid4().hex[:8]}"
    comments = thread_stream(source)
    async with httpx.AsyncClient(base_url=rig.ingest_url, timeout=10) as client:
        for comment in comments:  # one at a time: a thread's order is its sending order
            response = await client.post(
                comment.path, content=comment.body, headers=comment.headers
            )
            assert response.status_code == 202, response.text

    order = await classified_order(rig.kafka.bootstrap, source, len(comments))
    assert len(order) == THREADS
    for thread, positions in order.items():
        assert positions == list(range(REPLIES)), f"thread {thread}: {positions}"

    await asyncio.sleep(3)  # the routers catch up
    for name, urls in replicas.items():
        shares = [handled(url) - before[url] for url in urls]
        assert all(share > 0 for share in shares), f"{name} replicas handled {shares}"
