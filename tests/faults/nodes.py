"""A Kafka broker and a PostgreSQL cluster of the fault suite's own.

The fault scenarios restart, pause and kill the broker and the database: doing that to the
shared local services would break every other test using them. These nodes reuse what
``scripts/kafka.sh`` and ``scripts/postgres.sh`` installed (the broker's jars, Debian's
PostgreSQL binaries) but keep their state in a folder of their own and listen on free ports.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from tests.loops import run_on_own_loop

ROOT = Path(__file__).resolve().parents[2]
KAFKA_LIBS = ROOT / ".local" / "kafka" / "libs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").exists():
        return str(Path(home, "bin", "java"))
    for candidate in sorted(glob.glob("/usr/lib/jvm/java-17-openjdk-*/bin/java")):
        return candidate
    found = shutil.which("java")
    if found is None:
        raise RuntimeError("no java found: run scripts/services.sh up first")
    return found


def _wait(check: object, what: str, timeout_s: float) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f}s")


class KafkaNode:
    """One KRaft node (broker and controller) on loopback, formatted once, restartable."""

    def __init__(self, base: Path) -> None:
        if not any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
            raise RuntimeError(f"no Kafka jars in {KAFKA_LIBS}: run scripts/services.sh up first")
        self.base = base
        self.port = free_port()
        self.controller_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._java = _java()
        self._props = base / "server.properties"
        base.mkdir(parents=True, exist_ok=True)
        self._props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                    "controller.listener.names=CONTROLLER",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={base / 'data'}",
                    "num.partitions=3",
                    "default.replication.factor=1",
                    "min.insync.replicas=1",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        cluster_id = self._tool("kafka.tools.StorageTool", "random-uuid").split()[-1]
        self._tool(
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(self._props),
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _tool(self, *args: str) -> str:
        done = subprocess.run(
            [self._java, "-Xmx256m", "-cp", f"{KAFKA_LIBS}/*", *args],
            capture_output=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} {args[1]} failed: {done.stderr.decode()[-2000:]}")
        return done.stdout.decode()

    def start(self, timeout_s: float = 90.0) -> None:
        log = (self.base / "broker.log").open("ab")
        self.process = subprocess.Popen(
            [
                self._java,
                "-Xms128m",
                "-Xmx512m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dkafka.logs.dir={self.base / 'logs'}",
                f"-Dlog4j2.configurationFile={ROOT / 'scripts' / 'kafka' / 'log4j2.properties'}",
                "-cp",
                f"{KAFKA_LIBS}/*",
                "kafka.Kafka",
                str(self._props),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        _wait(self.answers, f"Kafka on {self.bootstrap}", timeout_s)

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the broker exited; see {self.base / 'broker.log'}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False

        async def ask() -> bool:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
            try:
                await admin.start()
                await admin.list_topics()
                return True
            except Exception:
                return False
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()

        return run_on_own_loop(ask(), "faults rig: broker probe")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _pg_bin() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError("no PostgreSQL binaries: run scripts/services.sh up first")
    return Path(found[-1]).parent


class PostgresNode:
    """A throwaway PostgreSQL cluster on loopback with a ``vigie`` database, restartable.

    As root the server runs as the ``postgres`` OS user (initdb refuses root), so the cluster
    lives under /var/tmp, which that user can reach whatever the repository's location.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.base = Path(f"/var/tmp/vigie-faults-pg-{os.getpid()}-{self.port}")
        self.data = self.base / "data"
        self._bin = _pg_bin()
        shutil.rmtree(self.base, ignore_errors=True)
        self.base.mkdir(parents=True)
        self._chown(self.base)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.base}'\nmax_connections = 100\n"
                # A restart here is a crash of the server, never of the machine: fsync can go,
                # but not synchronous_commit, or the crash would lose acknowledged commits.
                "fsync = off\nfull_page_writes = off\n"
            )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/vigie"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/vigie"

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr.decode()[-2000:]}")

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "start"
        )

    def create_database(self) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "vigie")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop(mode="immediate")  # as a crash would: no checkpoint, connections cut
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop(mode="immediate")
        shutil.rmtree(self.base, ignore_errors=True)
