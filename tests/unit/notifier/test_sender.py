"""One webhook with retries, against an in-process httpx transport (no socket)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.notifier import sender as sender_module
from services.notifier import webhook
from services.notifier.metrics import NotifierMetrics
from services.notifier.sender import SendOutcome, WebhookSender
from tests.unit import factories as f

SECRET = b"signing-secret"
Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps:
    """Stands in for ``asyncio`` in the sender module: records waits, never waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    fake = Sleeps()
    monkeypatch.setattr(sender_module, "asyncio", fake)
    return fake


class Peer:
    """Answers with the given responses in turn, recording every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def send(peer: Peer, *, attempts: int = 4) -> tuple[SendOutcome, CollectorRegistry]:
    registry = CollectorRegistry()
    async with httpx.AsyncClient(transport=httpx.MockTransport(peer)) as client:
        sender = WebhookSender(
            client,
            secrets=[SECRET],
            console_url="http://console.test",
            attempts=attempts,
            backoff_base_s=0.0,
            clock=lambda: f.NOW,
            metrics=NotifierMetrics(registry),
        )
        return await sender.send(f.action(url="http://receiver.test/hook")), registry


async def test_a_2xx_is_delivered_once_with_a_signed_body(sleeps: Sleeps) -> None:
    peer = Peer(httpx.Response(204))

    outcome, registry = await send(peer)

    assert outcome == SendOutcome(delivered=True, attempts=1, status_code=204, error=None)
    (request,) = peer.requests
    assert str(request.url) == "http://receiver.test/hook"
    assert request.method == "POST"
    timestamp = request.headers[webhook.TIMESTAMP_HEADER]
    assert timestamp == str(int(f.NOW.timestamp()))
    assert webhook.verify(
        SECRET, request.headers[webhook.SIGNATURE_HEADER], timestamp, request.content
    )
    assert request.headers[webhook.IDEMPOTENCY_HEADER] == f.action().action_id
    assert request.content == webhook.encode(
        webhook.payload(
            f.action(url="http://receiver.test/hook"), console_url="http://console.test"
        )
    )
    assert sleeps.waits == []
    assert (
        registry.get_sample_value(
            "vigie_notifier_attempts_total", {"channel": "webhook", "result": "ok"}
        )
        == 1
    )


async def test_a_recoverable_status_is_retried_until_delivered(sleeps: Sleeps) -> None:
    peer = Peer(httpx.Response(503), httpx.Response(429), httpx.Response(200))

    outcome, _ = await send(peer)

    assert outcome == SendOutcome(True, 3, 200, None)
    assert len(peer.requests) == 3
    assert len(sleeps.waits) == 2
    # Every attempt carries the same idempotency key.
    assert {r.headers[webhook.IDEMPOTENCY_HEADER] for r in peer.requests} == {f.action().action_id}


@pytest.mark.parametrize("status", [400, 401, 404, 410])
async def test_a_permanent_status_is_not_retried(sleeps: Sleeps, status: int) -> None:
    peer = Peer(httpx.Response(status))

    outcome, registry = await send(peer)

    assert outcome == SendOutcome(False, 1, status, f"HTTP {status}")
    assert len(peer.requests) == 1
    assert sleeps.waits == []
    assert (
        registry.get_sample_value(
            "vigie_notifier_attempts_total", {"channel": "webhook", "result": "permanent"}
        )
        == 1
    )


async def test_transport_errors_are_retried_then_given_up(sleeps: Sleeps) -> None:
    peer = Peer(httpx.ConnectError("connection refused"))

    outcome, _ = await send(peer, attempts=3)

    assert outcome == SendOutcome(False, 3, None, "ConnectError")
    assert len(peer.requests) == 3
    assert len(sleeps.waits) == 2  # no wait after the last attempt


async def test_a_persistent_5xx_reports_the_last_status(sleeps: Sleeps) -> None:
    outcome, _ = await send(Peer(httpx.Response(500)), attempts=2)

    assert outcome == SendOutcome(False, 2, 500, "HTTP 500")


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [("2", 2.0), ("3600", 60.0), ("Wed, 21 Oct 2026 11:00:00 GMT", 0.0)],
    ids=["seconds", "capped-at-60s", "past-date"],
)
async def test_retry_after_is_honoured_and_capped(
    sleeps: Sleeps, retry_after: str, wait: float
) -> None:
    peer = Peer(httpx.Response(503, headers={"Retry-After": retry_after}), httpx.Response(200))

    outcome, _ = await send(peer)

    assert outcome.delivered
    assert sleeps.waits == [wait]


async def test_an_odd_retry_after_date_does_not_break_the_retry(sleeps: Sleeps) -> None:
    peer = Peer(
        httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2026 12:01:00 -0000"}),
        httpx.Response(200),
    )

    outcome, _ = await send(peer)

    assert outcome.delivered
