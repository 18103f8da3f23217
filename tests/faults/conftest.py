"""The fault suite's own Kafka broker, PostgreSQL cluster, receiver and four services.

``make faults`` runs every scenario (``VIGIE_FAULTS=all``); ``make test`` runs a subset.
At the end, one table says, per scenario, what was sent and what became of it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from shared.storage.migrate import upgrade_async
from tests.faults.nodes import KafkaNode, PostgresNode, free_port
from tests.faults.reconcile import Tally
from tests.faults.traffic import DISCOURSE_SECRET, GENERIC_SECRET, META_PAGE, META_SECRET
from tests.loops import run_on_own_loop
from tests.peers import RecordingServer, recording_server
from vigie.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
TALLIES: list[Tally] = []


@dataclass
class Rig:
    kafka: KafkaNode
    postgres: PostgresNode
    receiver: RecordingServer
    stack: Stack

    @property
    def ingest_url(self) -> str:
        return self.stack["ingest"].url


def _policy(workdir: Path, receiver: RecordingServer) -> Path:
    policy = yaml.safe_load((ROOT / "config" / "policy.yaml").read_text())
    for entry in policy["receivers"]:
        entry["url"] = f"{receiver.url}/hooks/{entry['name']}"
    path = workdir / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    (workdir / "resources.yaml").write_text((ROOT / "config" / "resources.yaml").read_text())
    return path


@pytest.fixture(scope="session")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("faults")
    kafka = KafkaNode(workdir / "kafka")
    postgres = PostgresNode()
    try:
        kafka.start()
        postgres.start()
        postgres.create_database()
        run_on_own_loop(upgrade_async(postgres.url), "faults rig: migrations")
        with recording_server() as receiver:
            receiver.reply = json.dumps({"id": "peer-1", "success": True}).encode()
            env = {
                "VIGIE_KAFKA_BOOTSTRAP": kafka.bootstrap,
                "VIGIE_DATABASE_URL": postgres.url,
                "VIGIE_POLICY_FILE": str(_policy(workdir, receiver)),
                "VIGIE_GENERIC_WEBHOOK_SECRET": GENERIC_SECRET,
                "VIGIE_META_APP_SECRET": META_SECRET,
                "VIGIE_DISCOURSE_WEBHOOK_SECRET": DISCOURSE_SECRET,
                "VIGIE_WEBHOOK_SIGNING_SECRET": "faults-signing-" + uuid.uuid4().hex,
                "VIGIE_ROUTER_API_TOKEN": "faults-api-" + uuid.uuid4().hex,
                "VIGIE_ACK_TOKEN_SECRET": "faults-ack-" + uuid.uuid4().hex,
                "VIGIE_META_GRAPH_URL": f"{receiver.url}/graph",
                "VIGIE_META_PAGE_TOKENS": json.dumps({META_PAGE: "faults-page-token"}),
                # Retries outlast the receiver outage scenario; the breaker reopens quickly.
                "VIGIE_DELIVERY_BACKOFF_S": "0.2",
                "VIGIE_DELIVERY_ATTEMPTS": "10",
                "VIGIE_BREAKER_COOLDOWN_S": "1",
            }
            ports = {name: free_port() for name in ("ingest", "router", "classifier", "notifier")}
            env["VIGIE_CONSOLE_URL"] = f"http://127.0.0.1:{ports['router']}"
            stack = Stack(env, log_dir=workdir / "logs", ports=ports)
            try:
                stack.start(timeout_s=180)
                yield Rig(kafka, postgres, receiver, stack)
            finally:
                stack.stop()
    finally:
        kafka.stop()
        postgres.destroy()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLIES:
        return
    terminalreporter.section("faults: what each scenario sent and what became of it")
    terminalreporter.write_line(Tally.header())
    for tally in TALLIES:
        terminalreporter.write_line(tally.row())
        for problem in tally.problems:
            terminalreporter.write_line(f"    {problem}")
