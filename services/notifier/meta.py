"""Facebook and Instagram through the Meta Graph API: reply to, hide or like a comment. Pure.

Contracts:
- Facebook reply: POST ``/{comment-id}/comments`` with ``message``; answer ``{"id": ...}``
  (https://developers.facebook.com/docs/graph-api/reference/object/comments/).
- Facebook hide: POST ``/{comment-id}`` with ``is_hidden=true``; answer ``{"success": true}``
  (https://developers.facebook.com/docs/graph-api/reference/comment/#updating).
- Facebook like (the Page likes the comment): POST ``/{comment-id}/likes``; answer
  ``{"success": true}`` (https://developers.facebook.com/docs/graph-api/reference/comment/likes/).
  Instagram's API has no like for comments.
- Instagram reply: POST ``/{ig-comment-id}/replies`` with ``message``; hide: POST
  ``/{ig-comment-id}`` with ``hide=true``
  (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment/replies).
- Errors are JSON ``{"error": {"message", "type", "code", "is_transient"}}``; codes 4, 17,
  32, 613 and the 80001-80014 family are rate limits, codes 1 and 2 are temporary
  (https://developers.facebook.com/docs/graph-api/overview/rate-limiting/,
  https://developers.facebook.com/docs/graph-api/guides/error-handling/).
The page access token goes in the form body, never in the URL.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

from services.notifier.attempt import Attempt, HttpAnswer, HttpRequest, by_status, permanent
from shared.events import Action, ActionKind

FACEBOOK, INSTAGRAM = "facebook", "instagram"
THROTTLED = frozenset({4, 17, 32, 613}) | frozenset(range(80001, 80015))
TEMPORARY = frozenset({1, 2})


class Unsupported(ValueError):
    """The platform cannot do what the action asks (the router should never ask)."""


def request(action: Action, *, graph_url: str, token: str) -> HttpRequest:
    platform, comment = action.comment.platform, quote(action.comment.comment_id, safe="")
    base = graph_url.rstrip("/")
    if platform not in (FACEBOOK, INSTAGRAM):
        raise Unsupported(f"meta cannot act on {platform} comments")
    form: dict[str, str]
    if action.kind is ActionKind.REPLY:
        if not action.message:
            raise Unsupported("a reply needs its approved message")
        edge = "comments" if platform == FACEBOOK else "replies"
        url, form = f"{base}/{comment}/{edge}", {"message": action.message}
    elif action.kind is ActionKind.HIDE:
        url = f"{base}/{comment}"
        form = {"is_hidden": "true"} if platform == FACEBOOK else {"hide": "true"}
    elif action.kind is ActionKind.LIKE and platform == FACEBOOK:
        url, form = f"{base}/{comment}/likes", {}
    else:
        raise Unsupported(f"meta cannot {action.kind.value} {platform} comments")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return HttpRequest("POST", url, headers, urlencode({**form, "access_token": token}).encode())


def answer(answer: HttpAnswer, *, now: datetime) -> Attempt:
    data = answer.json()
    data = data if isinstance(data, dict) else {}
    if 200 <= answer.status < 300:
        if data.get("id") or data.get("success") is True:
            return Attempt(ok=True, status=answer.status, reference=data.get("id"))
        return permanent("meta: unexpected answer", answer.status)
    error = data.get("error") if isinstance(data.get("error"), dict) else None
    attempt = by_status(answer, now=now)
    if error is None:
        return attempt
    code = int(error.get("code") or 0)
    transient = code in THROTTLED or code in TEMPORARY or error.get("is_transient") is True
    return Attempt(
        ok=False,
        status=answer.status,
        error=f"HTTP {answer.status} meta {code}",
        recoverable=transient or attempt.recoverable,
        retry_after_s=attempt.retry_after_s,
    )
