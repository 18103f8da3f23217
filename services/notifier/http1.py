"""A small HTTP/1.1 keep-alive client on asyncio streams, for the signed-webhook channel.

The webhook channel sends many small POSTs to a few receivers; a general client's pool and
layers cost more than the request itself at that rate. This one keeps idle connections per
origin (at most ``connections`` open per origin), writes the request in one buffer, and
reads the status line, the headers and a ``Content-Length``, chunked or read-to-close body.
Every failure (connect, TLS, timeout, malformed answer) is an ``HttpTransportError``; an
answer of any status is an ``HttpAnswer``. A request sent on a reused connection that the
peer had already closed (EOF before any byte of an answer) is sent once more on a new
connection: the peer never read it. Proxies are not supported.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from services.notifier.attempt import HttpAnswer, HttpRequest

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
_NO_BODY = frozenset({204, 304})
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class HttpTransportError(Exception):
    """No answer was read: the request may or may not have reached the peer."""


class InvalidRequest(ValueError):
    """The request can never be sent as it is (not an http(s) URL, a header with CR/LF)."""


class _StaleConnection(Exception):
    """A reused connection was closed by the peer before it answered anything."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def split_url(url: str) -> tuple[Origin, str]:
    """The origin and the request target of an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"not an http(s) URL: {parts.scheme or 'no scheme'}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidRequest("invalid port in the URL") from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if " " in target or "\t" in target:
        raise InvalidRequest("the URL holds white space; percent-encode it")
    return Origin(parts.scheme, parts.hostname, port), target


def encode_head(
    method: str, target: str, origin: Origin, headers: Mapping[str, str], size: int
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    lines += [f"{n}: {v}" for n, v in headers.items() if n.lower() not in _FRAMING]
    lines.append(f"Content-Length: {size}")
    text = "\r\n".join(lines)
    # A CR, LF or NUL inside a name or a value would smuggle a header or a request.
    if text.count("\n") != len(lines) - 1 or text.count("\r") != len(lines) - 1 or "\0" in text:
        raise InvalidRequest("a header or the URL holds a CR, LF or NUL character")
    if any(":" in name or not name for name in headers):
        raise InvalidRequest("a header name is empty or holds a colon")
    try:
        return (text + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError as exc:
        raise InvalidRequest("a header holds a character outside Latin-1") from exc


def parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    """The status, the HTTP version and the headers (lower-case names, repeats joined)."""
    try:
        lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = lines[0].split(" ", 2)
        code = int(status)
    except (ValueError, IndexError) as exc:
        raise HttpTransportError("malformed status line") from exc
    if not version.startswith("HTTP/1.") or not 100 <= code <= 999:
        raise HttpTransportError("malformed status line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpTransportError("malformed header line")
        key, value = name.lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return code, version, headers


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()


@dataclass
class _Pool:
    slots: asyncio.Semaphore
    idle: deque[_Connection] = field(default_factory=deque)


class Http1Client:
    def __init__(
        self,
        *,
        timeout_s: float,
        connections: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout = timeout_s
        self._connections = connections
        self._ssl = ssl_context
        self._pools: dict[Origin, _Pool] = {}

    async def request(self, request: HttpRequest) -> HttpAnswer:
        origin, target = split_url(request.url)
        head = encode_head(request.method, target, origin, request.headers, len(request.content))
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(asyncio.Semaphore(self._connections))
        async with pool.slots:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._exchange(pool, origin, head + request.content, request)
            except TimeoutError as exc:
                raise HttpTransportError("timed out") from exc

    async def _exchange(
        self, pool: _Pool, origin: Origin, data: bytes, request: HttpRequest
    ) -> HttpAnswer:
        while pool.idle:
            conn = pool.idle.pop()
            if not conn.usable():
                conn.close()
                continue
            try:
                return await self._on(conn, pool, data, request)
            except _StaleConnection:
                break  # the peer closed it while idle: once more on a new connection
        conn = await self._open(origin)
        try:
            return await self._on(conn, pool, data, request)
        except _StaleConnection as exc:
            raise HttpTransportError("the peer closed the connection") from exc

    async def _open(self, origin: Origin) -> _Connection:
        context: ssl.SSLContext | None = None
        if origin.scheme == "https":
            context = self._ssl or ssl.create_default_context()
        try:
            reader, writer = await asyncio.open_connection(
                origin.host,
                origin.port,
                ssl=context,
                server_hostname=origin.host if context else None,
                limit=MAX_HEAD_BYTES,
            )
        except (OSError, ssl.SSLError) as exc:
            raise HttpTransportError(type(exc).__name__) from exc
        return _Connection(reader, writer)

    async def _on(
        self, conn: _Connection, pool: _Pool, data: bytes, request: HttpRequest
    ) -> HttpAnswer:
        reusable = False
        try:
            try:
                conn.writer.write(data)
                await conn.writer.drain()
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise _StaleConnection from exc
            answer, reusable = await self._read(conn.reader, request.method)
            return answer
        except asyncio.IncompleteReadError as exc:
            raise HttpTransportError("the answer was cut short") from exc
        except (OSError, asyncio.LimitOverrunError, ValueError) as exc:
            raise HttpTransportError(type(exc).__name__) from exc
        finally:
            if reusable:
                pool.idle.append(conn)
            else:
                conn.close()

    async def _read(self, reader: asyncio.StreamReader, method: str) -> tuple[HttpAnswer, bool]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            raise _StaleConnection from exc  # closed before a single byte of an answer
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise _StaleConnection from exc
        status, version, headers = parse_head(head)
        while 100 <= status < 200 and status != 101:  # interim answers (100 Continue)
            status, version, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
        if status == 101:
            return HttpAnswer(status, headers, b""), False  # the connection is no longer HTTP
        if method == "HEAD" or status in _NO_BODY:
            return HttpAnswer(status, headers, b""), keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return HttpAnswer(status, headers, await _chunked(reader)), keep
        length = headers.get("content-length")
        if length is not None:
            size = int(length.split(",")[0])
            if not 0 <= size <= MAX_BODY_BYTES:
                raise HttpTransportError("the answer's body is too large")
            return HttpAnswer(status, headers, await reader.readexactly(size)), keep
        return HttpAnswer(status, headers, await _until_closed(reader)), False

    async def aclose(self) -> None:
        for pool in self._pools.values():
            while pool.idle:
                pool.idle.pop().close()
        self._pools.clear()


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """A body without framing ends when the peer closes the connection."""
    body = bytearray()
    while chunk := await reader.read(65536):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HttpTransportError("the answer's body is too large")
    return bytes(body)


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers, ignored
            return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise HttpTransportError("the answer's body is too large")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise HttpTransportError("malformed chunk")
