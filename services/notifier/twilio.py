"""SMS through Twilio's Messages resource. Pure.

Contract (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource,
https://www.twilio.com/docs/usage/requests-to-twilio): POST
``/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To``, ``From`` (or
``MessagingServiceSid``) and ``Body``, HTTP basic auth with the account SID and auth token.
The answer is 201 with the message's ``sid``; errors are JSON ``{code, message, status}``
(https://www.twilio.com/docs/usage/twilios-response): 400 (e.g. 21211, invalid ``To``) is
permanent, 429 (20429, too many requests) and 5xx are worth a retry.
"""

from __future__ import annotations

import base64
from datetime import datetime
from urllib.parse import urlencode

from services.notifier.attempt import Attempt, HttpAnswer, HttpRequest, by_status
from services.notifier.templates import Style
from shared.events import Action


def numbers(target: str | None) -> list[str]:
    return [n.strip() for n in (target or "").split(",") if n.strip()]


def body(action: Action, style: Style) -> str:
    return style.render("sms.txt.j2", action)[:1600]


def requests(
    action: Action,
    style: Style,
    *,
    api_url: str,
    account_sid: str,
    auth_token: str,
    sender: str,
) -> list[HttpRequest]:
    """One message per number; ``sender`` is a number or a Messaging Service SID (MG...)."""
    url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
    basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": f"Basic {basic}",
    }
    origin = "MessagingServiceSid" if sender.startswith("MG") else "From"
    text = body(action, style)
    return [
        HttpRequest(
            "POST", url, headers, urlencode({"To": to, origin: sender, "Body": text}).encode()
        )
        for to in numbers(action.receiver.target)
    ]


def answer(answer: HttpAnswer, *, now: datetime) -> Attempt:
    data = answer.json()
    data = data if isinstance(data, dict) else {}
    attempt = by_status(answer, now=now, reference=str(data.get("sid") or "") or None)
    if attempt.ok or "code" not in data:
        return attempt
    return Attempt(
        ok=False,
        status=attempt.status,
        error=f"HTTP {answer.status} twilio {data['code']}",
        recoverable=attempt.recoverable,
        retry_after_s=attempt.retry_after_s,
    )
