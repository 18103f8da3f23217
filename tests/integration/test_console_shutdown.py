"""An open console inbox does not hold the router's stop: the router runs as a process
(``python -m services.router``, on the real broker and a database of its own), a moderator's
session keeps the live stream open, and SIGTERM ends the stream cleanly (the browser
reconnects by itself) and the process exits, without the graceful-shutdown period running
out. Bounds only stop a hung test or say that the grace did not run out: they measure
nothing finer."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from shared.serve import GRACEFUL_SHUTDOWN_S
from tests.console_stack import crisis_policy, moderator_database
from tests.e2e.test_pipeline import skip_backlog
from tests.observability import free_port
from vigie.stack import ServiceProcess

pytestmark = pytest.mark.integration

NAME, PASSWORD = "ana", "stop-" + uuid.uuid4().hex
GIVE_UP_S = 60.0  # a test that hangs fails after this; it measures nothing
GROUP_PREFIX = f"console-stop-{uuid.uuid4().hex[:8]}-"  # another router takes none of ours
POLICY = crisis_policy("console-stop", "team")
CUT_SHORT = "timeout graceful shutdown exceeded"  # what uvicorn logs when the grace runs out


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    async with moderator_database("vigie_console_stop", NAME, PASSWORD) as url:
        yield url


@pytest.fixture
async def skipped_backlog(kafka_bootstrap: str) -> None:
    await skip_backlog(kafka_bootstrap, GROUP_PREFIX)


@pytest.fixture
def router(
    own_database: str, kafka_bootstrap: str, skipped_backlog: None, tmp_path: Path
) -> Iterator[ServiceProcess]:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(POLICY))
    env = {
        "VIGIE_DATABASE_URL": own_database,
        "VIGIE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "VIGIE_KAFKA_GROUP_PREFIX": GROUP_PREFIX,
        "VIGIE_POLICY_FILE": str(policy_file),
        "VIGIE_CONSOLE_INSECURE_COOKIES": "true",  # plain HTTP on the loopback
        "VIGIE_LOG_LEVEL": "INFO",
    }
    process = ServiceProcess("router", free_port(), env, tmp_path / "router.log")
    process.start()
    try:
        process.wait_ready(GIVE_UP_S)
        yield process
    finally:
        process.kill()  # a no-op once it has exited


async def read_to_the_end(chunks: AsyncIterator[str]) -> str:
    """The rest of the stream; raises if the connection is cut before its end."""
    return "".join([chunk async for chunk in chunks])


async def test_sigterm_ends_an_open_event_stream_cleanly_and_the_router_exits(
    router: ServiceProcess,
) -> None:
    assert router.process is not None
    process = router.process
    async with httpx.AsyncClient(base_url=router.url, timeout=GIVE_UP_S) as client:
        login = await client.post("/console/login", data={"name": NAME, "password": PASSWORD})
        assert login.status_code == 303, login.text
        async with client.stream("GET", "/console/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            chunks = response.aiter_text()
            opening = await anext(chunks)
            assert opening.startswith("retry: ")  # open, and told how to reconnect

            asked = time.monotonic()
            process.send_signal(signal.SIGTERM)
            rest = await asyncio.wait_for(read_to_the_end(chunks), GIVE_UP_S)
            code = await asyncio.to_thread(process.wait, GIVE_UP_S)
            took = time.monotonic() - asked

    assert rest.endswith("\n\n") or not rest  # whole frames to the end, none cut
    print(f"stream ended and router exited {took:.1f} s after SIGTERM")
    # uvicorn re-raises the signal it handled once done: the default action ends the process.
    assert code in (0, -signal.SIGTERM)
    assert took < GRACEFUL_SHUTDOWN_S  # the grace did not run out ...
    assert CUT_SHORT not in router.log_path.read_text()  # ... nor was anything cut short
