"""Microsoft Teams: an Adaptive Card posted to a Workflows webhook. Pure.

Contract (https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/
how-to/add-incoming-webhook and https://learn.microsoft.com/en-us/connectors/teams/
#microsoft-teams-webhook): POST JSON ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}`` to the workflow's
URL (a secret: it carries its own signature); the answer is 202 Accepted (200 from legacy
connectors). More than four requests a second are throttled with 429.
A workflow webhook cannot edit a card it posted: when the case is acknowledged or resolved,
a short follow-up card says so and links the case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.notifier.attempt import Attempt, HttpAnswer, HttpRequest, by_status, json_request
from services.notifier.templates import Style
from shared.events import Action, ActionKind, Severity

SETTLING = frozenset({ActionKind.ACKNOWLEDGE, ActionKind.RESOLVE})

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def card(action: Action, style: Style) -> dict[str, Any]:
    words = style.words(action)
    links = [(words["open"], style.case_url(action))]
    if action.ack_url:
        links.append((words["ack"], action.ack_url))
    if action.resolve_url:
        links.append((words["resolve"], action.resolve_url))
    urgent = action.severity in (Severity.CRITICAL, Severity.HIGH)
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": style.render("summary.txt.j2", action),
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "color": "Attention" if urgent else "Default",
            },
            {"type": "TextBlock", "text": style.render("teams.md.j2", action), "wrap": True},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": t, "url": u} for t, u in links],
    }


def follow_up_card(action: Action, style: Style) -> dict[str, Any]:
    """Who acknowledged or resolved the case, and when, under the case's summary."""
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": style.status(action),
                "weight": "Bolder",
                "wrap": True,
                "color": "Good",
            },
            {"type": "TextBlock", "text": style.render("summary.txt.j2", action), "wrap": True},
        ],
        "actions": [
            {
                "type": "Action.OpenUrl",
                "title": style.words(action)["open"],
                "url": style.case_url(action),
            }
        ],
    }


def request(action: Action, style: Style, *, url: str) -> HttpRequest:
    content = follow_up_card(action, style) if action.kind in SETTLING else card(action, style)
    body = {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}],
    }
    return json_request(url, body)


def answer(answer: HttpAnswer, *, now: datetime) -> Attempt:
    return by_status(answer, now=now)
