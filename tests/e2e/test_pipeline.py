"""The four services as separate processes on the real broker and database.

One signed comment travels ingest -> classifier -> router -> notifier and arrives at a local
HTTP receiver as a signed webhook; a classifier killed mid-stream loses and doubles nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.notifier.webhook import verify
from shared.bus.kafka import topic_partitions
from shared.topics import COMMENT_TOPICS, COMMENTS_RAW
from tests.loops import run_on_own_loop
from tests.peers import RecordingServer, recording_server
from vigie.groups import PIPELINE_GROUPS
from vigie.stack import Stack

pytestmark = pytest.mark.e2e

INGEST_SECRET = "e2e-ingest-" + uuid.uuid4().hex
SIGNING_SECRET = "e2e-signing-" + uuid.uuid4().hex
API_TOKEN = "e2e-api-" + uuid.uuid4().hex
API_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}
PORTS = {"ingest": 18181, "router": 18182, "classifier": 18183, "notifier": 18184}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def receiver() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


# This module's stack has consumer groups of its own (VIGIE_KAFKA_GROUP_PREFIX): another
# stack on the same broker (a benchmark, a demo) takes none of its records, nor it theirs.
GROUP_PREFIX = f"e2e-{uuid.uuid4().hex[:8]}-"


async def skip_backlog(bootstrap: str, prefix: str = "") -> None:
    """Move the services' groups to the end of their topics on this shared broker, so that the
    stack under test starts from now, not from what earlier runs (benchmarks) left unread."""
    for name, topics in PIPELINE_GROUPS.items():
        group = prefix + name
        existing = await topic_partitions(bootstrap, topics)
        partitions = [TopicPartition(t, p) for t, numbers in existing.items() for p in numbers]
        if not partitions:
            continue  # a fresh broker: nothing to skip
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.commit(dict(ends.items()))
        finally:
            await consumer.stop()


@pytest.fixture(scope="module")
def stack(
    receiver: RecordingServer,
    kafka_bootstrap: str,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    policy = yaml.safe_load((ROOT / "config" / "policy.yaml").read_text())
    for entry in policy["receivers"]:
        entry["url"] = f"{receiver.url}/hooks/{entry['name']}"
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    # The policy names its resource directory relative to itself.
    (policy_file.parent / "resources.yaml").write_text(
        (ROOT / "config" / "resources.yaml").read_text()
    )
    env = {
        "VIGIE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_POLICY_FILE": str(policy_file),
        "VIGIE_GENERIC_WEBHOOK_SECRET": INGEST_SECRET,
        "VIGIE_WEBHOOK_SIGNING_SECRET": SIGNING_SECRET,
        "VIGIE_CONSOLE_URL": f"http://127.0.0.1:{PORTS['router']}",
        "VIGIE_ROUTER_API_TOKEN": API_TOKEN,
        "VIGIE_ACK_TOKEN_SECRET": "e2e-ack-" + uuid.uuid4().hex,
        "VIGIE_DELIVERY_BACKOFF_S": "0.2",
        "VIGIE_KAFKA_GROUP_PREFIX": GROUP_PREFIX,
    }
    run_on_own_loop(skip_backlog(kafka_bootstrap, GROUP_PREFIX), "e2e stack: skip backlog")
    services = Stack(env, log_dir=workdir / "logs", ports=PORTS)
    try:
        services.start(timeout_s=120)
        yield services
    finally:
        services.stop()


def signed(body: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    digest = hmac.new(INGEST_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"content-type": "application/json", "x-vigie-signature": f"sha256={digest}"}


def comment(text: str, *, author: str | None = None) -> dict[str, object]:
    return {
        "id": uuid.uuid4().hex,
        "text": text,
        "author": {"id": author or uuid.uuid4().hex, "name": "Someone"},
        "post_id": "post-1",
    }


async def post(client: httpx.AsyncClient, body: dict[str, object]) -> httpx.Response:
    raw, headers = signed(body)
    return await client.post(
        f"http://127.0.0.1:{PORTS['ingest']}/webhooks/generic/e2e", content=raw, headers=headers
    )


async def wait_for(predicate: object, timeout_s: float = 60.0) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout_s}s")
        await asyncio.sleep(0.2)


def deliveries_for(receiver: RecordingServer, case_ids: set[str]) -> list[dict[str, object]]:
    out = []
    for request in receiver.received():
        payload = request.json()
        if payload.get("case_id") in case_ids:
            out.append(payload)
    return out


async def case_of(client: httpx.AsyncClient, comment_id: str, timeout_s: float = 60.0) -> str:
    url = f"http://127.0.0.1:{PORTS['router']}/api/v1/comments/generic/e2e:{comment_id}"
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        response = await client.get(url, headers=API_HEADERS)
        if response.status_code == 200 and response.json()["case_id"]:
            return str(response.json()["case_id"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"comment {comment_id} got no case within {timeout_s}s")


async def test_a_crisis_comment_reaches_the_receiver_signed_and_opens_a_case(
    stack: Stack, receiver: RecordingServer, asyncpg_dsn: str
) -> None:
    body = comment("I can't take it anymore, I want to end my life")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await post(client, body)
        assert response.status_code == 202, response.text
        case_id = await case_of(client, str(body["id"]))
        known = (
            await client.get(
                f"http://127.0.0.1:{PORTS['router']}/api/v1/comments/generic/e2e:{body['id']}",
                headers=API_HEADERS,
            )
        ).json()
    await wait_for(lambda: deliveries_for(receiver, {case_id}))
    request = next(r for r in receiver.received() if r.json().get("case_id") == case_id)
    assert request.path == "/hooks/crisis-team"
    assert verify(
        SIGNING_SECRET.encode(),
        request.headers["X-Vigie-Signature"],
        request.headers["X-Vigie-Timestamp"],
        request.body,
    )
    payload = request.json()
    assert payload["severity"] == "critical" and payload["labels"] == ["sensitive"]
    assert "end my life" not in request.body.decode()  # no comment text for sensitive cases
    assert known["classification"]["labels"] == ["sensitive"]
    assert known["comment"]["text"] == body["text"]

    conn = await asyncpg.connect(asyncpg_dsn)
    try:
        case = await conn.fetchrow(
            "SELECT status, severity, route FROM cases WHERE id = $1", case_id
        )
        delivery = await conn.fetchrow(
            "SELECT status, attempts FROM deliveries WHERE case_id = $1", case_id
        )
    finally:
        await conn.close()
    assert case is not None and dict(case) == {
        "status": "open",
        "severity": "critical",
        "route": "crisis",
    }
    assert delivery is not None and delivery["status"] == "delivered"
    # It went through the priority lane, in the classifier and in the router.
    async with httpx.AsyncClient(timeout=10) as client:
        for service, stage in (
            ("classifier", "classifier-priority"),
            ("router", "router-priority"),
        ):
            metrics = (await client.get(f"http://127.0.0.1:{PORTS[service]}/metrics")).text
            assert stage_records(metrics, stage) >= 1, f"{stage} routed nothing"


def stage_records(metrics: str, stage: str) -> float:
    """The records a stage handled successfully, from a /metrics page."""
    wanted = f'vigie_stage_records_total{{outcome="ok",stage="{stage}"}} '
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(wanted))


async def end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in (COMMENTS_RAW, *COMMENT_TOPICS)
            for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"content-type": "application/json"}, b'{"id": "1"}', 401),
        (
            {"content-type": "application/json", "x-vigie-signature": "sha256=" + "0" * 64},
            b'{"id": "1"}',
            403,
        ),
        ({"content-type": "text/plain", "x-vigie-signature": "sha256=" + "0" * 64}, b"x", 415),
        ("signed", b"{not json", 400),
        ("signed", b'{"id": "1", "text": "hi"}', 422),
        ("signed", b'{"id": "1", "text": "' + b"a" * 300_000 + b'"}', 413),
    ],
    ids=[
        "no-signature",
        "bad-signature",
        "content-type",
        "invalid-json",
        "missing-fields",
        "too-large",
    ],
)
async def test_bad_input_gets_a_4xx_with_a_reason_and_no_comment_is_published(
    stack: Stack, kafka_bootstrap: str, headers: object, body: bytes, status: int
) -> None:
    if headers == "signed":
        digest = hmac.new(INGEST_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"content-type": "application/json", "x-vigie-signature": f"sha256={digest}"}
    assert isinstance(headers, dict)
    before = await end_offsets(kafka_bootstrap)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"http://127.0.0.1:{PORTS['ingest']}/webhooks/generic/e2e",
            content=body,
            headers=headers,
        )
    assert response.status_code == status
    assert response.json()["error"]
    after = await end_offsets(kafka_bootstrap)

    def added(topic: str) -> int:
        return sum(after[tp] - before[tp] for tp in after if tp.topic == topic)

    assert sum(added(topic) for topic in COMMENT_TOPICS) == 0
    # A verified body that cannot be read is archived for replay; forgeries are not.
    assert added(COMMENTS_RAW) == (1 if status in (400, 422) else 0)


async def test_a_classifier_killed_mid_stream_loses_nothing_and_pages_once(
    stack: Stack, receiver: RecordingServer, asyncpg_dsn: str
) -> None:
    bodies = [comment(f"je vais en finir, message {i}") for i in range(30)]
    async with httpx.AsyncClient(timeout=10) as client:
        for body in bodies[:10]:
            assert (await post(client, body)).status_code == 202
        stack["classifier"].kill()
        for body in bodies[10:]:
            # The front door keeps accepting: the comments wait on Kafka.
            assert (await post(client, body)).status_code == 202
        stack.restart("classifier", timeout_s=120)
        case_ids = {await case_of(client, str(b["id"]), timeout_s=120) for b in bodies}
    assert len(case_ids) == len(bodies)
    await wait_for(lambda: len(deliveries_for(receiver, case_ids)) >= len(case_ids), 120)
    await asyncio.sleep(2)  # let any duplicate that would come, come
    pages = Counter(str(p["action_id"]) for p in deliveries_for(receiver, case_ids))
    assert len(pages) == len(bodies)
    assert set(pages.values()) == {1}, "a case was paged more than once"

    conn = await asyncpg.connect(asyncpg_dsn)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM comments WHERE comment_id = ANY($1::text[])",
            [f"e2e:{b['id']}" for b in bodies],
        )
        delivered = await conn.fetchval(
            "SELECT count(*) FROM deliveries"
            " WHERE case_id = ANY($1::text[]) AND status = 'delivered'",
            list(case_ids),
        )
    finally:
        await conn.close()
    assert stored == len(bodies)
    assert delivered == len(bodies)
