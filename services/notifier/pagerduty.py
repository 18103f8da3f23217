"""PagerDuty Events API v2: one case is one incident (``dedup_key`` = case id). Pure.

Contract (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and the
acknowledge / resolve pages beside it; https://developer.pagerduty.com/api-reference/
368ae3d938c9e-send-an-event-to-pager-duty): POST ``/v2/enqueue`` a JSON event
``{routing_key, event_action: trigger|acknowledge|resolve, dedup_key, payload: {summary,
source, severity: critical|error|warning|info, ...}, links, client, client_url}``;
the answer is 202 ``{"status": "success", "dedup_key": ...}``, 400 for an invalid event
(permanent), 429 when throttled and 5xx: both worth a retry. Repeating a trigger with the
same ``dedup_key`` adds to the same alert, so a resend never pages twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.notifier.attempt import Attempt, HttpAnswer, HttpRequest, by_status, json_request
from services.notifier.templates import Style
from shared.events import Action, ActionKind, Severity

EVENT_ACTIONS = {
    ActionKind.NOTIFY: "trigger",
    ActionKind.QUEUE: "trigger",
    ActionKind.ACKNOWLEDGE: "acknowledge",
    ActionKind.RESOLVE: "resolve",
}
SEVERITIES = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "info",
    Severity.NONE: "info",
}


def event(action: Action, style: Style, *, routing_key: str) -> dict[str, Any]:
    event_action = EVENT_ACTIONS[action.kind]
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": event_action,
        "dedup_key": str(action.case_id),
    }
    if event_action != "trigger":
        return body
    case_url = style.case_url(action)
    return body | {
        "payload": {
            "summary": style.render("summary.txt.j2", action)[:1024],
            "source": f"vigie/{action.comment.platform}",
            "severity": SEVERITIES[action.severity],
            "timestamp": action.case_opened_at.isoformat(),
            "component": action.comment.platform,
            "group": action.route,
            "class": ",".join(label.value for label in action.labels),
            "custom_details": {
                "case_id": str(action.case_id),
                "severity": action.severity.value,
                "labels": [label.value for label in action.labels],
                "categories": list(action.categories),
                "route": action.route,
                "policy_version": action.policy_version,
            },
        },
        "client": "Vigie",
        "client_url": case_url,
        "links": [{"href": case_url, "text": style.words(action)["open"]}],
    }


def request(action: Action, style: Style, *, url: str, routing_key: str) -> HttpRequest:
    return json_request(url, event(action, style, routing_key=routing_key))


def answer(answer: HttpAnswer, *, now: datetime) -> Attempt:
    body = answer.json()
    reference = str(body.get("dedup_key")) if isinstance(body, dict) else None
    attempt = by_status(answer, now=now, reference=reference)
    if not attempt.ok and answer.status == 400 and isinstance(body, dict):
        errors = "; ".join(str(e) for e in body.get("errors") or [])[:200]
        return Attempt(ok=False, status=400, error=f"HTTP 400 {errors}".strip())
    return attempt
