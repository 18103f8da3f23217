"""X (Twitter) API v2: reply to a post. Pure.

Contract (https://docs.x.com/x-api/posts/create-post): POST ``/2/tweets`` with JSON
``{"text": ..., "reply": {"in_reply_to_tweet_id": ...}}`` and ``Authorization: Bearer``
a user-context access token (OAuth 2.0); the answer is 201 ``{"data": {"id", "text"}}``.
Over the limit the answer is 429 with ``x-rate-limit-reset`` (epoch seconds) telling when
the window reopens (https://docs.x.com/x-api/fundamentals/rate-limits); 403 (duplicate
content, not allowed to reply) and other 4xx are permanent.
"""

from __future__ import annotations

from datetime import datetime

from services.notifier.attempt import Attempt, HttpAnswer, HttpRequest, by_status, json_request
from shared.events import Action, ActionKind

PLATFORM = "x"


class Unsupported(ValueError):
    """The platform cannot do what the action asks (the router should never ask)."""


def request(action: Action, *, api_url: str, token: str) -> HttpRequest:
    if action.comment.platform != PLATFORM:
        raise Unsupported(f"x cannot act on {action.comment.platform} comments")
    if action.kind is not ActionKind.REPLY:
        raise Unsupported(f"x cannot {action.kind.value}")
    if not action.message:
        raise Unsupported("a reply needs its approved message")
    body = {"text": action.message, "reply": {"in_reply_to_tweet_id": action.comment.comment_id}}
    return json_request(
        f"{api_url.rstrip('/')}/2/tweets", body, {"Authorization": f"Bearer {token}"}
    )


def answer(answer: HttpAnswer, *, now: datetime) -> Attempt:
    data = answer.json()
    created = data.get("data") if isinstance(data, dict) else None
    reference = str(created["id"]) if isinstance(created, dict) and "id" in created else None
    attempt = by_status(answer, now=now, reference=reference)
    reset = answer.headers.get("x-rate-limit-reset", "")
    if answer.status == 429 and attempt.retry_after_s is None and reset.isdigit():
        wait = max(0.0, int(reset) - now.timestamp())
        return Attempt(False, 429, attempt.error, True, wait)
    return attempt
