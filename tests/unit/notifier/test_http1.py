"""The lean HTTP/1.1 client: framing, keep-alive, stale connections, timeouts, TLS, against
a real loopback server that answers raw bytes scripted per request."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.notifier.attempt import HttpRequest, by_status
from services.notifier.http1 import (
    Http1Client,
    HttpTransportError,
    InvalidRequest,
    Origin,
    encode_head,
    parse_head,
    split_url,
)
from tests.provider_peers import self_signed

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
Script = Callable[[int, bytes], bytes | None]  # request number, request -> raw answer


@dataclass
class RawPeer:
    """Reads each request (head and Content-Length body) and writes what the script says;
    ``None`` closes the connection without answering."""

    script: Script
    port: int = 0
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    close_after_answer: bool = False
    close_after: frozenset[int] = frozenset()  # request numbers answered, then the end

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.script(len(self.requests), request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after_answer or len(self.requests) in self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def started(peer: RawPeer, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0, ssl=tls)
    peer.port = server.sockets[0].getsockname()[1]
    return server


def post(url: str, body: bytes = b'{"a":1}', **headers: str) -> HttpRequest:
    return HttpRequest("POST", url, {"Content-Type": "application/json", **headers}, body)


async def exchange(
    script: Script,
    *requests: str,
    timeout_s: float = 5.0,
    close_after_answer: bool = False,
    close_after: frozenset[int] = frozenset(),
) -> tuple[list[object], RawPeer]:
    peer = RawPeer(script, close_after_answer=close_after_answer, close_after=close_after)
    server = await started(peer)
    client = Http1Client(timeout_s=timeout_s, connections=1)
    out: list[object] = []
    try:
        for path in requests:
            try:
                out.append(await client.request(post(f"http://127.0.0.1:{peer.port}{path}")))
            except HttpTransportError as exc:
                out.append(exc)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    return out, peer


async def test_requests_reuse_one_kept_alive_connection() -> None:
    out, peer = await exchange(lambda n, r: OK, "/a", "/b", "/c")

    assert [a.status for a in out] == [200, 200, 200]  # type: ignore[attr-defined]
    assert peer.connections == 1
    first = peer.requests[0]
    assert first.startswith(b"POST /a HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nContent-Length: 7\r\n\r\n" in first and first.endswith(b'{"a":1}')


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
            b"hello, world",
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
            b"ok",
        ),
    ],
    ids=["content-length", "chunked-with-trailer", "no-content", "interim-100"],
)
async def test_bodies_are_read_by_their_framing_and_the_connection_kept(
    raw: bytes, body: bytes
) -> None:
    out, peer = await exchange(lambda n, r: raw, "/1", "/2")

    assert [a.body for a in out] == [body, body]  # type: ignore[attr-defined]
    assert peer.connections == 1


async def test_a_body_without_framing_ends_with_the_connection() -> None:
    raw = b"HTTP/1.0 200 OK\r\n\r\nuntil the end"

    out, peer = await exchange(lambda n, r: raw, "/1", "/2", close_after_answer=True)

    assert [a.body for a in out] == [b"until the end"] * 2  # type: ignore[attr-defined]
    assert peer.connections == 2


async def test_a_connection_closed_while_idle_is_replaced_without_losing_the_request() -> None:
    out, peer = await exchange(lambda n, r: OK, "/1", "/2", "/3", close_after_answer=True)

    assert [a.status for a in out] == [200, 200, 200]  # type: ignore[attr-defined]
    assert len(peer.requests) == 3 and peer.connections == 3


async def test_a_reused_connection_closed_before_any_answer_is_retried_once_anew() -> None:
    # The second request meets a connection the peer closes unanswered (as a server that
    # timed the connection out as it arrived): it goes once more on a new connection.
    out, peer = await exchange(lambda n, r: None if n == 2 else OK, "/1", "/2")

    assert [a.status for a in out] == [200, 200]  # type: ignore[attr-defined]
    assert peer.connections == 2 and len(peer.requests) == 3


async def test_an_answer_cut_short_after_its_head_is_an_error_and_never_resent() -> None:
    head_only = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"

    out, peer = await exchange(
        lambda n, r: head_only if n == 2 else OK, "/1", "/2", close_after=frozenset({2})
    )

    assert isinstance(out[1], HttpTransportError) and "cut short" in str(out[1])
    assert len(peer.requests) == 2


async def test_a_peer_that_closes_without_answering_is_a_transport_error() -> None:
    out, peer = await exchange(lambda n, r: None, "/1")

    (error,) = out
    assert isinstance(error, HttpTransportError)
    assert len(peer.requests) == 1  # a fresh connection is never sent twice


async def test_throttling_answers_expose_retry_after() -> None:
    raw = b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n"

    (answer,), _ = await exchange(lambda n, r: raw, "/1")

    attempt = by_status(answer, now=datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
    assert (attempt.ok, attempt.recoverable, attempt.retry_after_s) == (False, True, 7.0)


async def test_a_silent_peer_times_out() -> None:
    out, _ = await exchange(lambda n, r: b"", "/1", timeout_s=0.1)

    (error,) = out
    assert isinstance(error, HttpTransportError) and "timed out" in str(error)


async def test_https_with_a_trusted_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    peer = RawPeer(lambda n, r: OK)
    server = await started(peer, server_tls)
    url = f"https://127.0.0.1:{peer.port}/tls"
    trusting = Http1Client(
        timeout_s=5, connections=2, ssl_context=ssl.create_default_context(cafile=str(cert))
    )
    default = Http1Client(timeout_s=5, connections=2)
    try:
        assert (await trusting.request(post(url))).status == 200
        with pytest.raises(HttpTransportError):
            await default.request(post(url))  # not a trusted certificate
    finally:
        await trusting.aclose()
        await default.aclose()
        server.close()
        await server.wait_closed()
    assert len(peer.requests) == 1


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("ftp://host/x", {}),
        ("http:///nohost", {}),
        ("http://host:99999/x", {}),
        ("http://host/a b", {}),
        ("http://host/x", {"X-Evil": "a\r\nX-Injected: 1"}),
        ("http://host/x", {"X-Evil": "a\nb"}),
        ("http://host/x", {"Bad:Name": "v"}),
        ("http://host/x", {"X-Name": "caf\u00e9\u2713"}),
    ],
    ids=["scheme", "no-host", "port", "space", "crlf", "lf", "colon", "not-latin-1"],
)
async def test_requests_that_cannot_be_sent_are_refused_before_any_io(
    url: str, headers: dict[str, str]
) -> None:
    client = Http1Client(timeout_s=1, connections=1)

    with pytest.raises(InvalidRequest):
        await client.request(HttpRequest("POST", url, headers, b""))


@pytest.mark.parametrize(
    ("url", "origin", "target"),
    [
        ("http://h/x?q=1", Origin("http", "h", 80), "/x?q=1"),
        ("https://h", Origin("https", "h", 443), "/"),
        ("http://h:8080/p", Origin("http", "h", 8080), "/p"),
    ],
)
def test_urls_split_into_origin_and_target(url: str, origin: Origin, target: str) -> None:
    assert split_url(url) == (origin, target)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        (Origin("http", "h", 80), "h"),
        (Origin("https", "h", 443), "h"),
        (Origin("https", "h", 8443), "h:8443"),
        (Origin("http", "::1", 8080), "[::1]:8080"),
    ],
)
def test_the_host_header_leaves_out_default_ports(origin: Origin, host: str) -> None:
    head = encode_head("POST", "/", origin, {"Host": "ignored", "Content-Length": "9"}, 3)

    assert head == f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\n\r\n".encode()


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200\r\nno colon\r\n\r\n",
    ],
)
def test_malformed_answers_are_transport_errors(head: bytes) -> None:
    with pytest.raises(HttpTransportError):
        parse_head(head)


def test_repeated_headers_are_joined_under_lower_case_names() -> None:
    status, version, headers = parse_head(
        b"HTTP/1.1 200 OK\r\nSet-Thing: a\r\nset-thing: b\r\nRetry-After: 3\r\n\r\n"
    )

    assert (status, version) == (200, "HTTP/1.1")
    assert headers == {"set-thing": "a, b", "retry-after": "3"}
