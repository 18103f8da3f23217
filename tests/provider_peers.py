"""Loopback peers that implement the providers' documented contracts and record requests.

One HTTP server answers as Slack (Web API: chat.postMessage and chat.update; incoming
webhooks), Teams (Workflows),
PagerDuty (Events API v2), Twilio (Messages), Meta (Graph API), X (API v2) and a Vigie
webhook receiver, each under its own path prefix; it checks what each provider checks
(auth, body shape) and answers the way each provider answers. ``script`` forces the next
answers (429 with Retry-After, 5xx, a slow answer) before the contract takes over.
An SMTP server (aiosmtpd) requires STARTTLS with a throw-away certificate.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notifier import webhook
from tests.peers import Received

SLACK_TOKEN = "xoxb-test-token"
TWILIO_SID, TWILIO_TOKEN = "AC0123456789abcdef0123456789abcdef", "twilio-auth-token"
META_TOKEN, X_TOKEN = "meta-page-token", "x-user-token"
PD_KEY = "R0123456789ABCDEF0123456789ABCDE"
SIGNING_SECRET = b"peer-signing-secret"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class ProviderPeer:
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Slack messages as posted or last updated, by (channel id, ts).
    slack_messages: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def received(self, prefix: str = "/") -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]


def _json(status: int, body: Any, **headers: str) -> Answer:
    return Answer(status, body, headers)


def _form(request: Received) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


def _basic(request: Received) -> tuple[str, str]:
    value = request.headers.get("Authorization", "").removeprefix("Basic ")
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


def _slack_api(request: Received, state: ProviderPeer) -> Answer:
    """chat.postMessage posts a message under a new ``ts``; chat.update replaces one that
    exists (https://docs.slack.dev/reference/methods/chat.update)."""
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if bearer != SLACK_TOKEN:
        return _json(200, {"ok": False, "error": "invalid_auth"})
    body = request.json()
    channel = body.get("channel", "")
    if not channel.startswith("C"):
        return _json(200, {"ok": False, "error": "channel_not_found"})
    if not body.get("text") and not body.get("blocks"):
        return _json(200, {"ok": False, "error": "no_text"})
    with state.lock:
        if request.path.endswith("/chat.update"):
            if (channel, body.get("ts")) not in state.slack_messages:
                return _json(200, {"ok": False, "error": "message_not_found"})
            ts = body["ts"]
        else:
            ts = f"1700000000.{len(state.slack_messages) + 100:06d}"
        state.slack_messages[(channel, ts)] = body
    return _json(200, {"ok": True, "channel": channel, "ts": ts, "text": body.get("text", "")})


def contract(request: Received, state: ProviderPeer) -> Answer:
    """What each provider answers to a well-formed or ill-formed request."""
    path, headers = request.path, request.headers
    bearer = headers.get("Authorization", "").removeprefix("Bearer ")
    if path in ("/slack/api/chat.postMessage", "/slack/api/chat.update"):
        return _slack_api(request, state)
    if path.startswith("/slack/hooks/"):
        body = request.json()
        if not body.get("text") and not body.get("blocks"):
            return Answer(400, "no_text")
        return Answer(200, "ok")
    if path.startswith("/teams/"):
        body = request.json()
        kinds = [a.get("contentType") for a in body.get("attachments", [])]
        if body.get("type") != "message" or kinds != ["application/vnd.microsoft.card.adaptive"]:
            return Answer(400, "bad card")
        return Answer(202, "")
    if path == "/pagerduty/v2/enqueue":
        body = request.json()
        if len(body.get("routing_key", "")) != 32 or body.get("event_action") not in (
            "trigger",
            "acknowledge",
            "resolve",
        ):
            return _json(400, {"status": "invalid event", "errors": ["bad routing_key"]})
        return _json(
            202, {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]}
        )
    if path.startswith("/twilio/2010-04-01/Accounts/"):
        if _basic(request) != (TWILIO_SID, TWILIO_TOKEN):
            return _json(401, {"code": 20003, "message": "Authenticate", "status": 401})
        form = _form(request)
        if not form.get("To", "").startswith("+"):
            return _json(400, {"code": 21211, "message": "Invalid 'To' Phone Number"})
        return _json(201, {"sid": "SM" + "0" * 32, "status": "queued", "to": form["To"]})
    if path.startswith("/meta/"):
        form = _form(request)
        if form.get("access_token") != META_TOKEN:
            return _json(
                400, {"error": {"message": "Invalid OAuth", "type": "OAuthException", "code": 190}}
            )
        if path.endswith(("/comments", "/replies")):
            return _json(200, {"id": "reply-1"})
        return _json(200, {"success": True})
    if path == "/x/2/tweets":
        if bearer != X_TOKEN:
            return _json(401, {"title": "Unauthorized", "status": 401})
        body = request.json()
        return _json(201, {"data": {"id": "1790000000000000001", "text": body["text"]}})
    if path.startswith("/webhook/"):
        signature = headers.get(webhook.SIGNATURE_HEADER, "")
        timestamp = headers.get(webhook.TIMESTAMP_HEADER, "")
        if not webhook.verify(SIGNING_SECRET, signature, timestamp, request.body):
            return Answer(401, "bad signature")
        if path.startswith("/webhook/gone"):
            return Answer(404, "no such receiver")
        return _json(200, {})
    return Answer(404, "unknown path")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # many concurrent senders: no SYN dropped, no 1 s stall


@contextmanager
def provider_peer() -> Iterator[ProviderPeer]:
    state = ProviderPeer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            request = Received(
                self.path, dict(self.headers.items()), self.rfile.read(length), time.perf_counter()
            )
            with state.lock:
                state.requests.append(request)
                scripted = state.script.pop(0) if state.script else None
            answer = scripted or contract(request, state)
            if answer.delay_s:
                time.sleep(answer.delay_s)
            body = answer.body
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            if body is None:
                raw = b""
            self.send_response(answer.status)
            kind = "text/plain" if isinstance(body, str) else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(raw)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = _Server(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Mailbox:
    port: int = 0
    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    tls_sessions: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if session.ssl is not None:
            self.tls_sessions += 1
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_peer(directory: Path) -> Iterator[tuple[Mailbox, Path]]:
    """An SMTP server on loopback that refuses mail before STARTTLS; yields its CA file."""
    import ssl

    cert, key = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    mailbox = Mailbox(port=port)
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        yield mailbox, cert
    finally:
        controller.stop()
