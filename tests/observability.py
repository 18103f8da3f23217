"""Observability helpers: a real Prometheus process scraping a local stack, the dashboards'
queries made concrete, and the traffic that makes every panel show something.

Used by tests/integration/test_observability.py and by deploy/grafana/demo.py (which drives
a few minutes of traffic for the dashboard pictures in docs/img/).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
RULES = ROOT / "deploy" / "prometheus" / "rules"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
TOOLS_HINT = "install them with `scripts/tools.sh up` (Debian's prometheus package)"


class MissingTool(RuntimeError):
    pass


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingTool(f"`{name}` is not on PATH: {TOOLS_HINT}")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Dashboards --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref: str
    expr: str

    @property
    def name(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARDS.glob("*.json"))
    }


def concrete(expr: str, variables: Mapping[str, str], *, rate_interval: str) -> str:
    """The query as Grafana sends it with every variable on "All"."""
    out = expr.replace("$__rate_interval", rate_interval)
    for name, value in variables.items():
        out = re.sub(rf"\$\{{{name}\}}|\${name}\b", value, out)
    return out


def panel_queries(*, rate_interval: str = "1m") -> list[PanelQuery]:
    out = []
    for name, dashboard in dashboards().items():
        variables = {v["name"]: v["allValue"] for v in dashboard["templating"]["list"]}
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expr = concrete(target["expr"], variables, rate_interval=rate_interval)
                out.append(PanelQuery(name, panel["title"], target["refId"], expr))
    return out


# --- Prometheus --------------------------------------------------------------------------------


def scrape_config(
    targets: Mapping[str, int], *, interval: str, rule_files: list[Path]
) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with static loopback targets instead of Docker DNS: the
    same job name and `service` label, so that the rules and dashboards apply unchanged."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update(
        scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval
    )
    config["rule_files"] = [str(path) for path in rule_files]
    config["scrape_configs"] = [
        {
            "job_name": "vigie",
            "metrics_path": "/metrics",
            "static_configs": [
                {"targets": [f"127.0.0.1:{port}"], "labels": {"service": service}}
                for service, port in targets.items()
            ],
        }
    ]
    return config


class Prometheus:
    """Debian's prometheus on a loopback port, storing under ``workdir``; stop() ends it."""

    def __init__(self, workdir: Path, config: Mapping[str, Any]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        self._log = (self.workdir / "prometheus.log").open("ab")
        self._process = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited; see {self.workdir / 'prometheus.log'}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready after {timeout_s:.0f}s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def api(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = self.api("query", query=expr)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result


# --- Traffic -----------------------------------------------------------------------------------


def stack_env(
    *,
    kafka_bootstrap: str,
    database_url: str,
    workdir: Path,
    receiver_url: str,
    ingest_secret: str,
    api_token: str,
    router_port: int,
) -> dict[str, str]:
    """Settings of a local stack whose every policy receiver is ``receiver_url``."""
    policy = yaml.safe_load((ROOT / "config" / "policy.yaml").read_text())
    for entry in policy["receivers"]:
        entry["url"] = f"{receiver_url}/hooks/{entry['name']}"
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    # The policy names its resource directory relative to itself.
    (workdir / "resources.yaml").write_text((ROOT / "config" / "resources.yaml").read_text())
    return {
        "VIGIE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_POLICY_FILE": str(policy_file),
        "VIGIE_GENERIC_WEBHOOK_SECRET": ingest_secret,
        "VIGIE_WEBHOOK_SIGNING_SECRET": "obs-signing-" + uuid.uuid4().hex,
        "VIGIE_CONSOLE_URL": f"http://127.0.0.1:{router_port}",
        "VIGIE_ROUTER_API_TOKEN": api_token,
        "VIGIE_ACK_TOKEN_SECRET": "obs-ack-" + uuid.uuid4().hex,
        "VIGIE_DELIVERY_BACKOFF_S": "0.2",
        "VIGIE_LOG_LEVEL": "WARNING",
    }


@dataclass(frozen=True)
class Traffic:
    """Signed generic webhooks into ingest and people's actions through the router's API."""

    ingest_url: str
    router_url: str
    ingest_secret: str
    api_token: str
    source: str = "obs"

    def sign(self, raw: bytes) -> dict[str, str]:
        digest = hmac.new(self.ingest_secret.encode(), raw, hashlib.sha256).hexdigest()
        return {"content-type": "application/json", "x-vigie-signature": f"sha256={digest}"}

    async def comment(
        self,
        client: httpx.AsyncClient,
        text: str,
        *,
        created_at: datetime | None = None,
        lang: str | None = None,
    ) -> str:
        """Posts a new comment; returns its id (202 expected)."""
        body: dict[str, object] = {
            "id": uuid.uuid4().hex,
            "text": text,
            "author": {"id": uuid.uuid4().hex, "name": "Someone"},
            "post_id": "post-1",
        }
        if created_at is not None:
            body["created_at"] = created_at.isoformat()
        if lang is not None:
            body["lang"] = lang
        raw = json.dumps(body).encode()
        response = await client.post(self._webhook_url, content=raw, headers=self.sign(raw))
        if response.status_code != 202:
            raise AssertionError(f"ingest answered {response.status_code}: {response.text}")
        return str(body["id"])

    async def forged(self, client: httpx.AsyncClient) -> int:
        """A request with a wrong signature; returns the status (403 expected)."""
        raw = b'{"id": "forged", "text": "hello"}'
        headers = {"content-type": "application/json", "x-vigie-signature": "sha256=" + "0" * 64}
        response = await client.post(self._webhook_url, content=raw, headers=headers)
        return response.status_code

    async def case_of(
        self, client: httpx.AsyncClient, comment_id: str, *, timeout_s: float = 60.0
    ) -> str:
        url = f"{self.router_url}/api/v1/comments/generic/{self.source}:{comment_id}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = await client.get(url, headers=self._auth)
            if response.status_code == 200 and response.json().get("case_id"):
                return str(response.json()["case_id"])
            await asyncio.sleep(0.2)
        raise AssertionError(f"comment {comment_id} got no case within {timeout_s:.0f}s")

    async def act(self, client: httpx.AsyncClient, case_id: str, move: str) -> None:
        """acknowledge or resolve a case as a person would."""
        response = await client.post(
            f"{self.router_url}/api/v1/cases/{case_id}/{move}",
            json={"by": "observability", "reason": "checked"},
            headers=self._auth,
        )
        if response.status_code != 200:
            raise AssertionError(f"{move} answered {response.status_code}: {response.text}")

    @property
    def _webhook_url(self) -> str:
        return f"{self.ingest_url}/webhooks/generic/{self.source}"

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}
