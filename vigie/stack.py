"""The four services as separate processes on the configured Kafka and PostgreSQL.

Used by ``vigie stack`` (``make stack``), the end-to-end tests and the benchmark.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

PORTS = {"ingest": 8081, "router": 8082, "classifier": 8083, "notifier": 8084}
# Start order: consumers first, so the front door opens on a pipeline that is ready.
ORDER = ("notifier", "router", "classifier", "ingest")


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        env = {**os.environ, **self.env, "VIGIE_HTTP_PORT": str(self.port)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}); see {self.log_path}"
                )
            if self.ready():
                return
            time.sleep(0.25)
        raise TimeoutError(f"{self.name} not ready after {timeout_s:.0f}s; see {self.log_path}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is committed."""
        self.stop(signal.SIGKILL)


class Stack:
    def __init__(self, env: Mapping[str, str], *, log_dir: Path, ports: Mapping[str, int] = PORTS):
        self.services = {
            name: ServiceProcess(name, ports[name], env, log_dir / f"{name}.log") for name in ORDER
        }

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def start(self, timeout_s: float = 90.0) -> None:
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            service.wait_ready(timeout_s)

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()

    def restart(self, name: str, timeout_s: float = 90.0) -> None:
        service = self.services[name]
        service.stop()
        service.start()
        service.wait_ready(timeout_s)
