"""Slack: Block Kit messages through ``chat.postMessage`` or an incoming webhook. Pure.

Contract (https://docs.slack.dev/reference/methods/chat.postMessage): POST
``{api}/chat.postMessage`` with ``Authorization: Bearer <bot token>`` and a JSON body
``{channel, text, blocks}``; the answer is HTTP 200 with ``{"ok": true, "ts": ...}`` or
``{"ok": false, "error": "channel_not_found"}``; over the rate limit the answer is HTTP 429
with ``Retry-After`` (https://docs.slack.dev/apis/web-api/rate-limits).
Incoming webhooks (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks)
answer 200 ``ok``, or 400 ``invalid_payload``, 403 ``action_prohibited``, 404
``channel_not_found``, 410 ``channel_is_archived``, 500 ``rollup_error``.
Link buttons (https://docs.slack.dev/reference/block-kit/block-elements/button-element)
open the router's signed ack / resolve links; without them the message has no such buttons.

A posted page is remembered as ``<channel id>:<ts>`` (the ``channel`` and ``ts`` of the
answer). When its case is acknowledged or resolved, ``chat.update``
(https://docs.slack.dev/reference/methods/chat.update: POST ``{channel, ts, text, blocks}``,
the same answers as above, ``message_not_found`` when the message is gone) replaces the
buttons with who acknowledged it and when. Incoming webhooks cannot edit what they posted:
their receivers get a short follow-up message instead, as do bot receivers whose page was
never recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.notifier.attempt import Attempt, HttpAnswer, HttpRequest, by_status, json_request
from services.notifier.templates import Style, slack_escape
from shared.events import Action, ActionKind

# ``ok: false`` errors that Slack documents as transient: the same call may succeed later.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# Kinds that settle a case: the pages already posted about it are updated, not repeated.
SETTLING = frozenset({ActionKind.ACKNOWLEDGE, ActionKind.RESOLVE})


def reference(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def parse_reference(value: str) -> tuple[str, str] | None:
    """The channel and ``ts`` of a recorded page; None for what is not one."""
    channel, sep, ts = value.partition(":")
    return (channel, ts) if sep and channel and ts else None


def _button(text: str, url: str, action_id: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "url": url,
        "action_id": action_id,
    }
    if style:
        button["style"] = style
    return button


def blocks(action: Action, style: Style) -> list[dict[str, Any]]:
    words = style.words(action)
    buttons = [_button(words["open"], style.case_url(action), "vigie_open")]
    if action.ack_url:
        buttons.append(_button(words["ack"], action.ack_url, "vigie_ack", "primary"))
    if action.resolve_url:
        buttons.append(_button(words["resolve"], action.resolve_url, "vigie_resolve"))
    return [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": style.render("summary.txt.j2", action)[:150]},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": style.render("slack.mrkdwn.j2", action)[:3000]},
        },
        {"type": "actions", "block_id": f"vigie-case-{action.case_id}", "elements": buttons},
    ]


def message(action: Action, style: Style) -> dict[str, Any]:
    """``text`` is the notification's fallback; ``blocks`` is what people see."""
    return {"text": style.render("summary.txt.j2", action), "blocks": blocks(action, style)}


def settled_blocks(action: Action, style: Style) -> list[dict[str, Any]]:
    """The page once its case is acknowledged or resolved: the ack and resolve buttons give
    way to who did it and when; the case stays one click away."""
    words = style.words(action)
    return [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": style.render("summary.txt.j2", action)[:150]},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": style.render("slack.mrkdwn.j2", action)[:3000]},
        },
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f":white_check_mark: {_status(action, style)}"}
            ],
        },
        {
            "type": "actions",
            "block_id": f"vigie-case-{action.case_id}",
            "elements": [_button(words["open"], style.case_url(action), "vigie_open")],
        },
    ]


def follow_up(action: Action, style: Style) -> dict[str, Any]:
    """A short message saying the case was acknowledged or resolved, where the page itself
    cannot be edited."""
    status = _status(action, style)
    link = f"<{style.case_url(action)}|{style.words(action)['open']}>"
    summary = slack_escape(style.render("summary.txt.j2", action))
    return {
        "text": f"{style.status(action)}: {style.render('summary.txt.j2', action)}",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f":white_check_mark: *{status}*\n{summary} · {link}",
                },
            }
        ],
    }


def _status(action: Action, style: Style) -> str:
    return slack_escape(style.status(action))


def update_request(
    action: Action, style: Style, *, api_url: str, token: str, channel: str, ts: str
) -> HttpRequest:
    body = {
        "channel": channel,
        "ts": ts,
        "text": f"{style.status(action)}: {style.render('summary.txt.j2', action)}",
        "blocks": settled_blocks(action, style),
    }
    return json_request(
        f"{api_url.rstrip('/')}/chat.update", body, {"Authorization": f"Bearer {token}"}
    )


def follow_up_request(
    action: Action, style: Style, *, api_url: str, token: str, channel: str
) -> HttpRequest:
    body = {"channel": channel, "unfurl_links": False, **follow_up(action, style)}
    return json_request(
        f"{api_url.rstrip('/')}/chat.postMessage", body, {"Authorization": f"Bearer {token}"}
    )


def post_message_request(
    action: Action, style: Style, *, api_url: str, token: str, channel: str
) -> HttpRequest:
    body = {"channel": channel, "unfurl_links": False, **message(action, style)}
    return json_request(
        f"{api_url.rstrip('/')}/chat.postMessage", body, {"Authorization": f"Bearer {token}"}
    )


def api_answer(answer: HttpAnswer, *, now: datetime) -> Attempt:
    """The answer to ``chat.postMessage`` or ``chat.update``."""
    if answer.status != 200:
        return by_status(answer, now=now)
    body = answer.json()
    if not isinstance(body, dict):
        return Attempt(ok=False, status=200, error="unreadable answer", recoverable=True)
    if body.get("ok") is True:
        channel, ts = body.get("channel"), body.get("ts")
        posted = reference(str(channel), str(ts)) if channel and ts else None
        return Attempt(ok=True, status=200, reference=posted)
    error = str(body.get("error") or "unknown_error")
    if error == "message_not_found":
        # chat.update of a page deleted meanwhile: there is nothing left to mark.
        return Attempt(ok=True, status=200)
    return Attempt(
        ok=False, status=200, error=f"slack: {error}", recoverable=error in TRANSIENT_ERRORS
    )


def webhook_request(action: Action, style: Style, *, url: str) -> HttpRequest:
    if action.kind in SETTLING:
        return json_request(url, follow_up(action, style))
    return json_request(url, message(action, style))


def webhook_answer(answer: HttpAnswer, *, now: datetime) -> Attempt:
    attempt = by_status(answer, now=now)
    if attempt.ok or not answer.body:
        return attempt
    reason = answer.body[:100].decode(errors="replace")
    return Attempt(
        ok=False,
        status=attempt.status,
        error=f"HTTP {answer.status} {reason}",
        recoverable=attempt.recoverable,
        retry_after_s=attempt.retry_after_s,
    )
