"""Builders of valid events for unit tests, with every field overridable."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from shared.events import (
    Action,
    ActionKind,
    Author,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    Channel,
    Classification,
    ClassifiedComment,
    Comment,
    CommentRef,
    DeliveryOutcome,
    DeliveryResult,
    Label,
    RawWebhook,
    Receiver,
    Severity,
    derive_id,
)

NOW = datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def comment(
    comment_id: str = "forum:c-1",
    *,
    text: str = "hello",
    author_id: str = "u-1",
    author_name: str | None = "Ana",
    platform: str = "generic",
    source: str = "forum",
    post_id: str = "p-1",
    parent_id: str | None = None,
    thread_id: str | None = None,
    revision: int = 0,
    url: str | None = None,
    lang: str | None = None,
    trace_id: str = TRACE,
    at: datetime = NOW,
) -> Comment:
    return Comment(
        event_id=derive_id("comment", platform, comment_id, str(revision)),
        trace_id=trace_id,
        occurred_at=at,
        platform=platform,
        source=source,
        comment_id=comment_id,
        revision=revision,
        text=text,
        author=Author(id=author_id, name=author_name),
        post_id=post_id,
        parent_id=parent_id,
        thread_id=thread_id or parent_id or comment_id,
        received_at=at,
        url=url,
        lang=lang,
        delivery_id=f"d-{comment_id}",
    )


def classification(
    *labels: Label,
    severity: Severity = Severity.NONE,
    categories: tuple[str, ...] = (),
    lang: str = "en",
) -> Classification:
    scores = dict.fromkeys(Label, 0.0)
    for label in labels:
        scores[label] = 0.9
    return Classification(
        labels=labels,
        categories=categories,
        severity=severity,
        scores=scores,
        lang=lang,
        rationale="test",
        model_version="test-1",
    )


def classified(item: Comment, verdict: Classification) -> ClassifiedComment:
    return ClassifiedComment(
        event_id=derive_id("classified", item.ref.key, verdict.model_version),
        trace_id=item.trace_id,
        occurred_at=item.received_at,
        comment=item,
        classification=verdict,
    )


def sensitive(item: Comment) -> ClassifiedComment:
    return classified(
        item, classification(Label.SENSITIVE, severity=Severity.CRITICAL, categories=("suicide",))
    )


def action(
    *,
    labels: tuple[Label, ...] = (Label.SENSITIVE,),
    severity: Severity = Severity.CRITICAL,
    url: str = "http://receiver.test/hook",
    comment_url: str | None = "https://forum.test/p-1#c-1",
) -> Action:
    case_id = derive_id("case", "crisis:generic:forum:c-1:0")
    action_id = f"{case_id}:notify:crisis-team:1"
    return Action(
        event_id=derive_id("action", action_id),
        trace_id=TRACE,
        occurred_at=NOW,
        action_id=action_id,
        kind=ActionKind.NOTIFY,
        case_id=case_id,
        receiver=Receiver(name="crisis-team", channel=Channel.WEBHOOK, url=url),
        severity=severity,
        labels=labels,
        categories=("suicide",),
        comment=CommentRef(platform="generic", comment_id="forum:c-1"),
        comment_url=comment_url,
        case_opened_at=NOW,
        policy_version="2026-11-21+abcdef12",
        route="crisis",
    )


def delivery_result() -> DeliveryResult:
    return DeliveryResult(
        event_id=uuid.UUID("0b5c5d0e-8a1c-4e6f-9a61-3f1c2b9e7d10"),
        trace_id=TRACE,
        occurred_at=NOW,
        action_id="case:notify:crisis-team:1",
        case_id=uuid.UUID("3d2c8b0a-5f1e-4c3b-8a7d-1e2f3a4b5c6d"),
        receiver="crisis-team",
        channel=Channel.WEBHOOK,
        outcome=DeliveryOutcome.FAILED,
        attempts=4,
        status_code=503,
        error="HTTP 503",
    )


def case_event() -> CaseEvent:
    return CaseEvent(
        event_id=uuid.UUID("9e107d9d-3722-4b1f-8a4c-2a1b3c4d5e6f"),
        trace_id=TRACE,
        occurred_at=NOW,
        case_id=uuid.UUID("3d2c8b0a-5f1e-4c3b-8a7d-1e2f3a4b5c6d"),
        kind=CaseEventKind.OPENED,
        status=CaseStatus.OPEN,
        severity=Severity.CRITICAL,
        labels=(Label.SENSITIVE, Label.QUESTION),
        comment=CommentRef(platform="generic", comment_id="forum:c-1", revision=2),
        policy_version="v+1",
        reason="route crisis",
    )


def raw_webhook(body: bytes = b'{"id": "c-1"}') -> RawWebhook:
    return RawWebhook(
        event_id=derive_id("raw", "generic", "forum", "d-1"),
        trace_id=TRACE,
        occurred_at=NOW,
        platform="generic",
        source="forum",
        delivery_id="d-1",
        headers={"content-type": "application/json"},
        body=base64.b64encode(body),
    )


async def eventually(check: Callable[[], bool], *, timeout_s: float = 3.0) -> None:
    """Wait until ``check()`` holds; fail the test when it does not in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.01)
