"""Dashboards and alert rules against the real tools: promtool checks and unit-tests the rules,
a real Prometheus parses every dashboard query, then scrapes the four services running as
processes on the real Kafka and PostgreSQL while traffic flows, and every panel query of every
dashboard must return data.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.test_pipeline import skip_backlog
from tests.loops import run_on_own_loop
from tests.observability import (
    DASHBOARDS,
    PROMETHEUS_CONFIG,
    RULES,
    MissingTool,
    Prometheus,
    Traffic,
    dashboards,
    free_port,
    panel_queries,
    scrape_config,
    stack_env,
    tool,
)
from tests.peers import RecordingServer, recording_server
from vigie.stack import Stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
OPERATIONS = ROOT / "docs" / "operations.md"
INGEST_SECRET = "obs-ingest-" + uuid.uuid4().hex
API_TOKEN = "obs-api-" + uuid.uuid4().hex
SEVERITIES = {"critical", "warning", "info"}


def installed(name: str) -> str:
    try:
        return tool(name)
    except MissingTool as exc:
        pytest.fail(str(exc))


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(rule for rule in group["rules"] if "alert" in rule)
    return rules


# --- Rules ---------------------------------------------------------------------------------


def test_promtool_accepts_the_rules_and_the_configuration(tmp_path: Path) -> None:
    rules = promtool("check", "rules", *sorted(RULES.glob("*.yml")))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # The configuration as shipped (its rule_files glob is relative to the file) ...
    shipped = promtool("check", "config", PROMETHEUS_CONFIG)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "1 rule files found" in shipped.stdout
    # ... and as the live test below adapts it.
    adapted = tmp_path / "prometheus.yml"
    config = scrape_config({"ingest": 1}, interval="1s", rule_files=[RULES / "vigie.yml"])
    adapted.write_text(yaml.safe_dump(config))
    checked = promtool("check", "config", adapted)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    result = promtool("test", "rules", *sorted(RULE_TESTS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS.glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested not firing"


def test_every_alert_has_a_severity_a_summary_and_a_runbook_in_the_docs() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        runbook = rule["annotations"]["runbook_url"]
        assert runbook == f"docs/operations.md#{name.lower()}", name
        assert name.lower() in anchors, f"docs/operations.md has no section for {name}"


def test_compose_mounts_the_rules_and_the_dashboards() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    prometheus = compose["services"]["prometheus"]["volumes"]
    grafana = compose["services"]["grafana"]["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in prometheus
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in grafana
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "vigie.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"


# --- Dashboards ----------------------------------------------------------------------------


def test_the_dashboards_are_built_from_their_definitions() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "grafana" / "build.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_dashboard_is_provisionable_and_every_panel_has_a_query() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    uid = datasources["datasources"][0]["uid"]
    boards = dashboards()
    assert set(boards) == {"pipeline", "moderation", "deliveries"}
    assert len({board["uid"] for board in boards.values()}) == len(boards)
    for name, board in boards.items():
        assert "${DS" not in (DASHBOARDS / f"{name}.json").read_text(), name
        assert board["schemaVersion"] >= 36, name
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for variable in board["templating"]["list"]:
            assert variable["datasource"]["uid"] == uid and variable["allValue"] == ".*"
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            where = f"{name} / {panel['title']}"
            assert panel["datasource"]["uid"] == uid, where
            assert panel["targets"], where
            for target in panel["targets"]:
                assert target["expr"].strip() and target["datasource"]["uid"] == uid, where
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, where
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not area & cells, f"{where} overlaps another panel"
            cells |= area


# --- A real Prometheus ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("ingest", "router", "classifier", "notifier")}


@pytest.fixture(scope="module")
def prometheus(
    ports: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus")
    config = scrape_config(ports, interval="1s", rule_files=sorted(RULES.glob("*.yml")))
    server = Prometheus(workdir, config)
    try:
        server.start()
    except MissingTool as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


def test_every_dashboard_query_parses(prometheus: Prometheus) -> None:
    errors = {}
    for query in panel_queries():
        response = prometheus.api("query", query=query.expr)
        if response.status_code != 200:
            errors[query.name] = response.json().get("error")
    assert errors == {}


def test_a_broken_query_is_reported(prometheus: Prometheus) -> None:
    # The check above relies on Prometheus answering 400 to what does not parse.
    response = prometheus.api("query", query="sum by (le (rate(x[1m]))")
    assert response.status_code == 400 and "parse error" in response.json()["error"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


@pytest.fixture(scope="module")
def stack(
    ports: dict[str, int],
    receiver: RecordingServer,
    kafka_bootstrap: str,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    env = stack_env(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        workdir=workdir,
        receiver_url=receiver.url,
        ingest_secret=INGEST_SECRET,
        api_token=API_TOKEN,
        router_port=ports["router"],
    )
    # Consumer groups of its own: another stack on the shared broker takes none of its records.
    prefix = f"observability-{uuid.uuid4().hex[:8]}-"
    env["VIGIE_KAFKA_GROUP_PREFIX"] = prefix
    run_on_own_loop(skip_backlog(kafka_bootstrap, prefix), "observability stack: skip backlog")
    services = Stack(env, log_dir=workdir / "logs", ports=ports)
    try:
        services.start(timeout_s=120)
        yield services
    finally:
        services.stop()


@pytest.fixture(scope="module")
async def traffic(stack: Stack) -> Traffic:
    """A crisis comment posted two minutes ago and acknowledged, an abusive one resolved, a
    question, praise in French and a forged request."""
    driver = Traffic(
        ingest_url=stack["ingest"].url,
        router_url=stack["router"].url,
        ingest_secret=INGEST_SECRET,
        api_token=API_TOKEN,
    )
    now = datetime.now(UTC)
    async with httpx.AsyncClient(timeout=10) as client:
        crisis = await driver.comment(
            client,
            "I can't take it anymore, I want to end my life",
            created_at=now - timedelta(minutes=2),
        )
        abusive = await driver.comment(client, "You are a stupid idiot, shut up")
        await driver.comment(client, "How do I reset my password?")
        await driver.comment(client, "Merci, super travail, j'adore !", lang="fr")
        assert await driver.forged(client) == 403
        await driver.act(client, await driver.case_of(client, crisis), "acknowledge")
        await driver.act(client, await driver.case_of(client, abusive), "resolve")
    return driver


# Panel queries allowed to return nothing in a short run, with the reason. Empty: every query
# either sees the traffic above or falls back to 0 (`or vector(0)`).
MAY_BE_EMPTY: dict[str, str] = {}


async def test_every_panel_query_returns_data_from_the_running_stack(
    prometheus: Prometheus, traffic: Traffic, receiver: RecordingServer
) -> None:
    queries = [q for q in panel_queries() if q.name not in MAY_BE_EMPTY]
    empty = [q.name for q in queries]
    deadline = time.monotonic() + 60
    while empty and time.monotonic() < deadline:
        await asyncio.sleep(1)
        empty = [q.name for q in queries if not prometheus.query(q.expr)]
    assert empty == [], "panel queries without data"
    assert receiver.received(), "the crisis page never reached its receiver"


# What the traffic above must show, beyond "some series": panel query -> labels of one series.
SHOWN = [
    ("pipeline / Errors per second / A", {"outcome": "signature_mismatch"}),
    ("pipeline / Ingest: webhooks per second by outcome / A", {"outcome": "accepted"}),
    ("moderation / Labels per second by label and platform / A", {"label": "sensitive"}),
    ("moderation / Labels per second by label and platform / A", {"label": "abusive"}),
    ("moderation / Labels per second by language / A", {"lang": "fr"}),
    (
        "moderation / Cases not resolved, by severity and state / A",
        {"severity": "critical", "state": "acknowledged"},
    ),
    (
        "moderation / Cases opened, acknowledged and resolved per hour / B",
        {"transition": "acknowledged", "severity": "critical"},
    ),
    (
        "moderation / Cases opened, acknowledged and resolved per hour / B",
        {"transition": "resolved"},
    ),
    ("deliveries / Deliveries per second by channel and outcome / A", {"outcome": "delivered"}),
]


async def test_the_traffic_shows_on_its_panels(prometheus: Prometheus, traffic: Traffic) -> None:
    exprs = {q.name: q.expr for q in panel_queries()}

    def unseen() -> list[tuple[str, dict[str, str]]]:
        return [
            (name, labels)
            for name, labels in SHOWN
            if not any(labels.items() <= r["metric"].items() for r in prometheus.query(exprs[name]))
        ]

    deadline = time.monotonic() + 60
    while (missing := unseen()) and time.monotonic() < deadline:
        await asyncio.sleep(1)
    assert missing == []


async def test_every_template_variable_finds_values(
    prometheus: Prometheus, traffic: Traffic
) -> None:
    # Grafana's label_values(selector, label) is not PromQL: ask the same as a count by label.
    questions = {}
    for name, board in dashboards().items():
        for variable in board["templating"]["list"]:
            found = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
            assert found, f"{name}: {variable['query']}"
            selector, label = found.groups()
            questions[f"{name} ${variable['name']}"] = (f"count by ({label}) ({selector})", label)

    def valueless() -> list[str]:
        return [
            key
            for key, (expr, label) in questions.items()
            if not any(v["metric"].get(label) for v in prometheus.query(expr))
        ]

    deadline = time.monotonic() + 60
    while (missing := valueless()) and time.monotonic() < deadline:
        await asyncio.sleep(1)
    assert missing == []


async def test_the_rules_evaluate_cleanly_on_the_live_data(
    prometheus: Prometheus, traffic: Traffic
) -> None:
    def groups() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = prometheus.api("rules").json()["data"]["groups"]
        return data

    rules = [rule for group in groups() for rule in group["rules"]]
    deadline = time.monotonic() + 30
    while any(r["lastEvaluation"].startswith("0001") for r in rules) or not rules:
        assert time.monotonic() < deadline, "the rules were not evaluated"
        await asyncio.sleep(1)
        rules = [rule for group in groups() for rule in group["rules"]]
    unhealthy = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert unhealthy == {}
    names = {rule["name"] for rule in rules}
    assert {rule["alert"] for rule in alert_rules()} <= names
    # Everything runs and answers: neither service alert may fire.
    alerts = prometheus.api("alerts").json()["data"]["alerts"]
    firing = {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
    assert not firing & {"VigieServiceDown", "VigieServiceAbsent"}


def test_tools_are_reported_missing_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(MissingTool, match=r"scripts/tools\.sh up"):
        tool("promtool")
