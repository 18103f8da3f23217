"""Real local peers that play remote scorers: scripted answers, delays and errors.

``scripted_server(script)`` serves every POST with what ``script`` returns for it, after
the reply's delay (cut short when the server stops, so a test never waits on a sleeper).
``moderation_script`` answers like OpenAI's moderation endpoint, ``scorer_script`` like
Vigie's generic scorer contract.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.peers import Received

MODERATION_MODEL = "omni-moderation-2024-09-26"
OPENAI_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    delay_s: float = 0.0


Script = Callable[[Received], Reply]


@dataclass
class ScriptedServer:
    port: int
    script: Script
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.requests)


@contextmanager
def scripted_server(script: Script) -> Iterator[ScriptedServer]:
    state = ScriptedServer(port=0, script=script)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            got = Received(
                self.path, dict(self.headers.items()), self.rfile.read(length), time.perf_counter()
            )
            with state.lock:
                state.requests.append(got)
                script = state.script
            reply = script(got)
            if reply.delay_s and state.stopping.wait(reply.delay_s):
                return
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()


def moderation_result(scores: Mapping[str, float]) -> dict[str, Any]:
    """One result as the moderation endpoint writes it; flagged where the score >= 0.5."""
    full = {name: float(scores.get(name, 0.0001)) for name in OPENAI_CATEGORIES}
    flags = {name: score >= 0.5 for name, score in full.items()}
    return {
        "flagged": any(flags.values()),
        "categories": flags,
        "category_scores": full,
        "category_applied_input_types": {name: ["text"] for name in OPENAI_CATEGORIES},
    }


def moderation_script(
    scores: Callable[[str], Mapping[str, float]], *, delay_s: float = 0.0
) -> Script:
    """Answers ``/v1/moderations`` with ``scores(text)`` for each input text."""

    def script(request: Received) -> Reply:
        inputs = request.json()["input"]
        return Reply(
            body={
                "id": "modr-test",
                "model": MODERATION_MODEL,
                "results": [moderation_result(scores(text)) for text in inputs],
            },
            delay_s=delay_s,
        )

    return script


def scorer_script(
    scores: Callable[[str], Mapping[str, float]], *, model_version: str = "acme-3"
) -> Script:
    """Answers the generic scorer contract with ``scores(text)`` for each item."""

    def script(request: Received) -> Reply:
        items = request.json()["items"]
        return Reply(
            body={
                "model_version": model_version,
                "results": [
                    {"id": item["id"], "scores": dict(scores(item["text"]))} for item in items
                ],
            }
        )

    return script


def status(code: int, body: Any = None) -> Script:
    return lambda _request: Reply(status=code, body=body if body is not None else {"error": "x"})
