"""Real local peers for tests: an HTTP server that records what it receives."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.perf_counter() on arrival
    status: int = 0  # what the server answered

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RecordingServer:
    port: int
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    # What a 2xx answer carries: an id and a success flag satisfy the providers' clients
    # (Meta's Graph API answers {"id": ...} or {"success": true}).
    reply: bytes = b"{}"
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.requests)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up before the answer (its timeout, on purpose) is not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    state = RecordingServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            with state.lock:
                status = state.status
                state.requests.append(
                    Received(
                        self.path, dict(self.headers.items()), body, time.perf_counter(), status
                    )
                )
                reply = state.reply if status < 300 else b'{"error": "unavailable"}'
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = _QuietServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
