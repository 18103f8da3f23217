"""Oversized and slow requests against the ingest service as it runs (``python -m
services.ingest``: uvicorn with ``shared/serve.py``'s limits, on the real broker and
PostgreSQL).

A body over ``VIGIE_MAX_BODY_BYTES`` is refused before the client has sent it; clients that
trickle their headers, never finish their body or send nothing are cut off by the server,
and other clients are served meanwhile. Bounds here only stop a hung test: they are far
above the configured timeouts and measure nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import create_database, drop_database
from tests.observability import free_port
from vigie.stack import ServiceProcess

pytestmark = pytest.mark.integration

MAX_BODY = 4096
HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 3
GIVE_UP_S = 60.0  # a server that never answers fails the test after this; it measures nothing
WEBHOOK = "/webhooks/generic/forum"


@pytest.fixture(scope="module")
async def own_database() -> AsyncIterator[str]:
    server = os.environ["VIGIE_DATABASE_URL"]
    url = await create_database(server, prefix="vigie_http_limits")
    yield url
    await drop_database(server, url)


@pytest.fixture(scope="module")
def ingest(
    own_database: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    env = {
        "VIGIE_DATABASE_URL": own_database,
        "VIGIE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "VIGIE_GENERIC_WEBHOOK_SECRET": "limits-secret",
        "VIGIE_MAX_BODY_BYTES": str(MAX_BODY),
        "VIGIE_HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "VIGIE_HTTP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "VIGIE_LOG_LEVEL": "WARNING",
    }
    log = tmp_path_factory.mktemp("limits") / "ingest.log"
    process = ServiceProcess("ingest", free_port(), env, Path(log))
    process.start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@contextlib.asynccontextmanager
async def connection(ingest: ServiceProcess) -> AsyncIterator[Connection]:
    reader, writer = await asyncio.open_connection("127.0.0.1", ingest.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def head(path: str, *lines: str) -> bytes:
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: ingest", *lines, "", ""]).encode()


async def status_of(reader: asyncio.StreamReader) -> int:
    """The status of the server's answer, once it comes."""
    line = await asyncio.wait_for(reader.readline(), GIVE_UP_S)
    assert line.startswith(b"HTTP/1.1 "), line
    return int(line.split()[1])


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent until it closed the connection."""
    return await asyncio.wait_for(reader.read(), GIVE_UP_S)


async def served_normally(ingest: ServiceProcess) -> int:
    async with httpx.AsyncClient(base_url=ingest.url, timeout=GIVE_UP_S) as client:
        return (await client.get("/healthz")).status_code


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    ingest: ServiceProcess,
) -> None:
    async with connection(ingest) as (reader, writer):
        writer.write(
            head(WEBHOOK, "Content-Type: application/json", f"Content-Length: {10**12}")
            + b'{"text": "'
        )
        await writer.drain()

        assert await status_of(reader) == 413
        answer = await closed_by_server(reader)

    assert f"larger than {MAX_BODY} bytes".encode() in answer


async def test_a_chunked_body_is_refused_once_over_the_limit_without_waiting_for_its_end(
    ingest: ServiceProcess,
) -> None:
    chunk = b"x" * 1024
    async with connection(ingest) as (reader, writer):
        writer.write(head(WEBHOOK, "Content-Type: application/json", "Transfer-Encoding: chunked"))
        for _ in range(3 * MAX_BODY // len(chunk)):  # never the last, empty, chunk
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()

        assert await status_of(reader) == 413


async def trickle(writer: asyncio.StreamWriter, data: bytes, every_s: float) -> int:
    """Send ``data`` a byte at a time until done or cancelled; returns the bytes sent."""
    sent = 0
    with contextlib.suppress(OSError, asyncio.CancelledError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            await asyncio.sleep(every_s)
    return sent


async def test_clients_trickling_headers_are_cut_off_and_others_are_served_meanwhile(
    ingest: ServiceProcess,
) -> None:
    slow = 8
    headers = head(WEBHOOK, "Content-Type: application/json", "X-Padding: " + "p" * 200)
    async with contextlib.AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(connection(ingest)) for _ in range(slow)]
        trickles = [asyncio.create_task(trickle(w, headers, 0.2)) for _, w in connections]
        await asyncio.sleep(0)

        during = await served_normally(ingest)
        answers = [await closed_by_server(reader) for reader, _ in connections]
        for task in trickles:
            task.cancel()
        sent = [await task for task in trickles]

    assert during == 200
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers
    assert all(n < len(headers) for n in sent), "the server waited for the whole headers"


async def test_a_body_that_never_completes_is_answered_408_and_the_connection_closed(
    ingest: ServiceProcess,
) -> None:
    async with connection(ingest) as (reader, writer):
        writer.write(head(WEBHOOK, "Content-Type: application/json", "Content-Length: 100") + b"{")
        await writer.drain()

        during = await served_normally(ingest)
        status = await status_of(reader)
        answer = await closed_by_server(reader)

    assert during == 200
    assert status == 408
    assert b"request body not received" in answer


async def test_a_connection_that_sends_nothing_is_closed(ingest: ServiceProcess) -> None:
    async with connection(ingest) as (reader, _):
        answer = await closed_by_server(reader)

    assert answer.startswith(b"HTTP/1.1 408 ")


async def test_a_kept_alive_connection_still_serves_requests_sent_in_time(
    ingest: ServiceProcess,
) -> None:
    async with httpx.AsyncClient(base_url=ingest.url, timeout=GIVE_UP_S) as client:
        first = await client.get("/healthz")
        second = await client.get("/healthz")

    assert (first.status_code, second.status_code) == (200, 200)
